package worker

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/checker/internal/probe"
)

// checkSSL checks the certificate of the monitor's https URL.
func (w *Worker) checkSSL(ctx context.Context, job Job) probe.Result {
	return w.prober.CheckSSL(ctx, probe.SSLRequest{
		MonitorID:       job.Req.GetMonitorId(),
		URL:             job.Req.GetUrl(),
		Timeout:         time.Duration(job.Req.GetTimeoutMs()) * time.Millisecond,
		Deadline:        job.Deadline,
		AlertBeforeDays: int(job.Req.GetSslAlertBeforeDays()),
	})
}

// Certificate alert actions of the publish script (ARGV 11).
const (
	certAlertNone  = ""      // the result says nothing new about the period
	certAlertSet   = "set"   // in the period: alert unless already alerted
	certAlertClear = "clear" // out of the period (renewed): the next entry alerts again
)

// certAlert is what a result does to the monitor's certificate alert: the
// CertificateExpiring event to publish (only if this crossing was not
// alerted yet), the action, and the mark stored with it (the expiry, ms).
// A failed check (no certificate, or an expired or refused one) leaves the
// mark alone, so that an outage does not re-arm the alert. Only SSL
// monitors are emailed: an HTTP monitor over TLS shows the warning, but its
// owner asked to watch the service, not the certificate (with the 30-day
// default, every routine renewal would send an email).
func (w *Worker) certAlert(job Job, res probe.Result, finished time.Time) (body []byte, action, mark string, err error) {
	if res.CertificateExpiresAt == nil || job.Req.GetType() != eventsv1.MonitorType_MONITOR_TYPE_SSL {
		return nil, certAlertNone, "", nil
	}
	exp := *res.CertificateExpiresAt
	days := int(job.Req.GetSslAlertBeforeDays())
	if days <= 0 {
		days = probe.DefaultAlertBeforeDays
	}
	switch {
	case res.CertificateExpiring:
	case res.Success && !probe.InAlertPeriod(exp, finished, days):
		return nil, certAlertClear, "", nil
	default:
		return nil, certAlertNone, "", nil
	}
	body, err = encode(w.instance, &eventsv1.CertificateExpiring{
		MonitorId:       job.Req.GetMonitorId(),
		ExpiresAt:       timestamppb.New(exp),
		DaysLeft:        int32(max(probe.DaysLeft(exp, finished), 0)), //nolint:gosec // at most alert days
		AlertBeforeDays: int32(days),
		At:              timestamppb.New(finished),
		Slot:            timestamppb.New(job.Slot),
		MonitorUrl:      job.Req.GetUrl(),
	})
	if err != nil {
		return nil, "", "", err
	}
	return body, certAlertSet, strconv.FormatInt(exp.UnixMilli(), 10), nil
}
