package testenv

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// SESRequest is one SendEmail call a FakeSES received.
type SESRequest struct {
	Source  string
	To      []string
	Subject string
	Text    string
	HTML    string
}

// FakeSES is a hand-written stand-in for the Amazon SES v1 query API on
// loopback: it answers SendEmail like SES does, or with a chosen error.
type FakeSES struct {
	// URL is the endpoint to configure as the SES base endpoint.
	URL string

	mu       sync.Mutex
	requests []SESRequest
	calls    int
	status   int
	code     string
}

// SES starts a FakeSES for the test; it stops when the test ends.
func SES(t testing.TB) *FakeSES {
	t.Helper()
	f := &FakeSES{}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Fail makes every next call fail with the HTTP status and SES error code
// (e.g. 400 "MessageRejected", 500 "InternalFailure"); Fail(0, "") heals it.
func (f *FakeSES) Fail(status int, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.code = status, code
}

// Requests returns the SendEmail calls that succeeded.
func (f *FakeSES) Requests() []SESRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SESRequest(nil), f.requests...)
}

// Calls counts every request, failed ones included.
func (f *FakeSES) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *FakeSES) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls++
	status, code := f.status, f.code
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if r.Form.Get("Action") != "SendEmail" {
		status, code = http.StatusBadRequest, "InvalidAction"
	}
	if status != 0 {
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">`+
			`<Error><Type>Sender</Type><Code>%s</Code><Message>fake ses refuses: %s</Message></Error>`+
			`<RequestId>fake-request</RequestId></ErrorResponse>`, code, code)
		return
	}
	req := SESRequest{
		Source:  r.Form.Get("Source"),
		Subject: r.Form.Get("Message.Subject.Data"),
		Text:    r.Form.Get("Message.Body.Text.Data"),
		HTML:    r.Form.Get("Message.Body.Html.Data"),
	}
	for i := 1; ; i++ {
		to := r.Form.Get(fmt.Sprintf("Destination.ToAddresses.member.%d", i))
		if to == "" {
			break
		}
		req.To = append(req.To, to)
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	n := len(f.requests)
	f.mu.Unlock()
	_, _ = fmt.Fprintf(w, `<SendEmailResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">`+
		`<SendEmailResult><MessageId>fake-%06d</MessageId></SendEmailResult>`+
		`<ResponseMetadata><RequestId>fake-request</RequestId></ResponseMetadata></SendEmailResponse>`, n)
}
