package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
	"github.com/servercheck/uptime/services/api/internal/store"
)

// sealConfig turns the parsed config in fields (set by monitorFields) into
// its columns: the config with every header value and the body replaced by
// the mask, and those values sealed into sealed_secrets (NULL when there
// are none). A mask sent back keeps the value stored for that header or
// body in prev, the monitor before an update (nil on create); prev's
// secrets are opened only when a mask needs them. The seal is bound to
// url, which a monitor cannot change.
func (a *API) sealConfig(ctx context.Context, fields map[string]any, url string, prev *store.Monitor) error {
	cfg, ok := fields["config"].(*monitorConfig)
	if !ok {
		return nil
	}
	var stored *storedSecrets
	previous := func() (*storedSecrets, error) {
		if stored == nil {
			s, err := a.storedSecrets(ctx, prev)
			if err != nil {
				return nil, err
			}
			stored = s
		}
		return stored, nil
	}
	secrets, err := splitSecrets(cfg, previous)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode monitor config: %w", err)
	}
	fields["config"] = json.RawMessage(raw)
	fields["sealed_secrets"] = []byte(nil)
	if len(secrets.GetHeaders()) == 0 && len(secrets.GetBody()) == 0 {
		return nil
	}
	plain, err := proto.Marshal(secrets)
	if err != nil {
		return fmt.Errorf("encode monitor secrets: %w", err)
	}
	sealed, err := a.d.Secrets.Seal(plain, []byte(url))
	if err != nil {
		return fmt.Errorf("seal monitor secrets: %w", err)
	}
	fields["sealed_secrets"] = sealed
	return nil
}

// storedSecrets are the secret values a monitor holds, by header name.
type storedSecrets struct {
	headers map[string]string
	body    *string
}

// storedSecrets opens prev's sealed secrets. Values still in clear in its
// config (rows stored before secrets were sealed) count too, so that the
// first update seals them.
func (a *API) storedSecrets(ctx context.Context, prev *store.Monitor) (*storedSecrets, error) {
	out := &storedSecrets{headers: map[string]string{}}
	if prev == nil {
		return out, nil
	}
	var old monitorConfig
	if json.Unmarshal(prev.Config, &old) == nil && old.HTTP != nil {
		for name, v := range old.HTTP.Headers {
			if v != secretMask {
				out.headers[name] = v
			}
		}
		if b := old.HTTP.Body; b != "" && b != secretMask {
			out.body = &b
		}
	}
	if len(prev.SealedSecrets) == 0 {
		return out, nil
	}
	plain, err := a.d.Secrets.Open(prev.SealedSecrets, []byte(prev.URL))
	var secrets eventsv1.MonitorSecrets
	if err == nil {
		err = proto.Unmarshal(plain, &secrets)
	}
	if err != nil {
		// The cause names key ids, never a value.
		a.log.WarnContext(ctx, "monitor_secrets_not_opened", "monitor_id", prev.ID, "err", err)
		return nil, errStatus(http.StatusConflict,
			"The stored header values and body of this monitor cannot be decrypted; send them again instead of the mask")
	}
	for _, h := range secrets.GetHeaders() {
		out.headers[h.GetName()] = h.GetValue()
	}
	if len(secrets.GetBody()) > 0 {
		b := string(secrets.GetBody())
		out.body = &b
	}
	return out, nil
}

// splitSecrets moves cfg's header values and body into the returned
// MonitorSecrets and leaves the mask in their place. A mask received is
// resolved through previous; one with nothing stored behind it is refused
// rather than sent as a literal "********".
func splitSecrets(cfg *monitorConfig, previous func() (*storedSecrets, error)) (*eventsv1.MonitorSecrets, error) {
	secrets := &eventsv1.MonitorSecrets{}
	if cfg == nil || cfg.HTTP == nil {
		return secrets, nil
	}
	h := cfg.HTTP
	var problems []string
	for name, value := range h.Headers {
		if value == secretMask {
			prev, err := previous()
			if err != nil {
				return nil, err
			}
			kept, ok := prev.headers[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("config.http: headers: %q is masked but no value is stored for it; send its value", name))
				continue
			}
			value = kept
		}
		secrets.Headers = append(secrets.Headers, &eventsv1.Header{Name: name, Value: value})
		h.Headers[name] = secretMask
	}
	slices.SortFunc(secrets.Headers, func(a, b *eventsv1.Header) int { return strings.Compare(a.GetName(), b.GetName()) })
	if h.Body == secretMask {
		prev, err := previous()
		if err != nil {
			return nil, err
		}
		if prev.body == nil {
			problems = append(problems, "config.http: body is masked but no body is stored; send the body")
		} else {
			h.Body = *prev.body
		}
	}
	if h.Body != "" {
		secrets.Body = []byte(h.Body)
		h.Body = secretMask
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, errValidation(problems)
	}
	return secrets, nil
}
