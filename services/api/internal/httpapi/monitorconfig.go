package httpapi

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"github.com/servercheck/uptime/pkg/schedule"
)

// Limits of a monitor's config.
const (
	maxHeaders        = 50
	maxHeaderValueLen = 8 << 10
	maxRequestBodyLen = 64 << 10
	maxExpectedText   = 4 << 10
	maxResponseLimit  = 10 << 20
	// secretMask stands for a sealed value in the stored config and in
	// responses; the wizard sends it back for a value left unchanged.
	secretMask = schedule.SecretMask
)

var (
	httpMethods   = []string{"GET", "HEAD", "POST", "PUT", "PATCH"}
	headerNameRE  = regexp.MustCompile(`^[!#$%&'*+.^_` + "`" + `|~0-9A-Za-z-]{1,256}$`)
	jsonPathRE    = regexp.MustCompile(`^[^.\s]+(\.[^.\s]+)*$`)
	configKeys    = []string{"http", "ssl"}
	httpConfigKey = []string{"method", "headers", "body", "expectedStatusCodes", "expectedText", "expectedJsonPath",
		"expectedJsonValue", "timeoutMs", "maxResponseBytes", "followRedirects"}
	sslConfigKeys = []string{"alertBeforeDays"}
)

// monitorConfig is the wizard's config object, validated. Unknown keys are
// refused at every level.
type monitorConfig struct {
	HTTP *httpConfig `json:"http,omitempty"`
	SSL  *sslConfig  `json:"ssl,omitempty"`
}

type httpConfig struct {
	Method              string            `json:"method,omitempty"`
	Headers             map[string]string `json:"headers,omitempty"`
	Body                string            `json:"body,omitempty"`
	ExpectedStatusCodes []int             `json:"expectedStatusCodes,omitempty"`
	ExpectedText        string            `json:"expectedText,omitempty"`
	ExpectedJSONPath    string            `json:"expectedJsonPath,omitempty"`
	ExpectedJSONValue   json.RawMessage   `json:"expectedJsonValue,omitempty"`
	TimeoutMs           int               `json:"timeoutMs,omitempty"`
	MaxResponseBytes    int               `json:"maxResponseBytes,omitempty"`
	FollowRedirects     *bool             `json:"followRedirects,omitempty"`
}

type sslConfig struct {
	AlertBeforeDays int `json:"alertBeforeDays,omitempty"`
}

// parseMonitorConfig validates raw (a JSON object) and returns its
// normalised form; problems are added to b.
func parseMonitorConfig(raw json.RawMessage, b *body) *monitorConfig {
	top := map[string]json.RawMessage{}
	if json.Unmarshal(raw, &top) != nil {
		b.fail("config must be an object")
		return nil
	}
	cfg := &monitorConfig{}
	for _, e := range unknownFields(top, configKeys) {
		b.fail("config: %s", e)
	}
	if v, ok := top["http"]; ok && string(v) != "null" {
		cfg.HTTP = parseHTTPConfig(v, b)
	}
	if v, ok := top["ssl"]; ok && string(v) != "null" {
		inner := &body{raw: map[string]json.RawMessage{}}
		if json.Unmarshal(v, &inner.raw) != nil {
			b.fail("config.ssl must be an object")
		} else {
			inner.errs = unknownFields(inner.raw, sslConfigKeys)
			s := &sslConfig{AlertBeforeDays: 30}
			if n := inner.integer("alertBeforeDays", false, 1, 365); n != nil {
				s.AlertBeforeDays = *n
			}
			for _, e := range inner.errs {
				b.fail("config.ssl: %s", e)
			}
			cfg.SSL = s
		}
	}
	return cfg
}

func parseHTTPConfig(raw json.RawMessage, b *body) *httpConfig {
	in := &body{raw: map[string]json.RawMessage{}}
	if json.Unmarshal(raw, &in.raw) != nil {
		b.fail("config.http must be an object")
		return nil
	}
	in.errs = unknownFields(in.raw, httpConfigKey)
	h := &httpConfig{Method: "GET", TimeoutMs: 10000, MaxResponseBytes: 1 << 20}
	if m := in.enum("method", false, httpMethods...); m != nil {
		h.Method = *m
	}
	if in.has("headers") {
		headers := map[string]string{}
		if json.Unmarshal(in.raw["headers"], &headers) != nil {
			in.fail("headers must be an object of string values")
		} else if len(headers) > maxHeaders {
			in.fail("headers must contain at most %d entries", maxHeaders)
		} else {
			for name, value := range headers {
				if !headerNameRE.MatchString(name) {
					in.fail("headers: %q is not a valid header name", name)
				}
				if len(value) > maxHeaderValueLen || strings.ContainsAny(value, "\r\n") {
					in.fail("headers: the value of %q must be one line of at most %d bytes", name, maxHeaderValueLen)
				}
			}
			h.Headers = headers
		}
	}
	if s := in.text("body", false, 0); s != nil {
		if len(*s) > maxRequestBodyLen {
			in.fail("body must be shorter than or equal to %d bytes", maxRequestBodyLen)
		}
		h.Body = *s
	}
	if in.has("expectedStatusCodes") {
		var codes []json.RawMessage
		if json.Unmarshal(in.raw["expectedStatusCodes"], &codes) != nil || len(codes) > 50 {
			in.fail("expectedStatusCodes must be an array of at most 50 status codes")
		} else {
			for _, c := range codes {
				n, ok := jsonInt(c)
				if !ok || n < 100 || n > 599 {
					in.fail("expectedStatusCodes must contain integers between 100 and 599")
					break
				}
				if !slices.Contains(h.ExpectedStatusCodes, n) {
					h.ExpectedStatusCodes = append(h.ExpectedStatusCodes, n)
				}
			}
		}
	}
	if s := in.text("expectedText", false, maxExpectedText); s != nil {
		h.ExpectedText = *s
	}
	if s := in.str("expectedJsonPath", false, 256); s != nil {
		if !jsonPathRE.MatchString(*s) {
			in.fail("expectedJsonPath must look like a.b.0.c")
		}
		h.ExpectedJSONPath = *s
	}
	if in.has("expectedJsonValue") {
		v := in.raw["expectedJsonValue"]
		var probe any
		switch {
		case json.Unmarshal(v, &probe) != nil:
			in.fail("expectedJsonValue must be JSON")
		case len(v) > maxExpectedText:
			in.fail("expectedJsonValue must be at most %d bytes", maxExpectedText)
		default:
			if _, isObj := probe.(map[string]any); isObj {
				in.fail("expectedJsonValue must be a string, number, boolean or null")
			} else if _, isArr := probe.([]any); isArr {
				in.fail("expectedJsonValue must be a string, number, boolean or null")
			}
			h.ExpectedJSONValue = v
		}
		if h.ExpectedJSONPath == "" {
			in.fail("expectedJsonValue requires expectedJsonPath")
		}
	}
	if n := in.integer("timeoutMs", false, 1000, 30000); n != nil {
		h.TimeoutMs = *n
	}
	if n := in.integer("maxResponseBytes", false, 1, maxResponseLimit); n != nil {
		h.MaxResponseBytes = *n
	}
	h.FollowRedirects = in.boolean("followRedirects")
	if h.FollowRedirects == nil {
		t := true
		h.FollowRedirects = &t
	}
	for _, e := range in.errs {
		b.fail("config.http: %s", e)
	}
	return h
}

// maskConfig hides secrets (header values, request body) of a stored
// config before it leaves the api. Configs stored since secrets are sealed
// hold only masks already; older rows may still hold clear values.
func maskConfig(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage(`{}`)
	}
	var cfg monitorConfig
	if json.Unmarshal(raw, &cfg) != nil {
		return json.RawMessage(`{}`)
	}
	if cfg.HTTP != nil {
		for k := range cfg.HTTP.Headers {
			cfg.HTTP.Headers[k] = secretMask
		}
		if cfg.HTTP.Body != "" {
			cfg.HTTP.Body = secretMask
		}
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return out
}
