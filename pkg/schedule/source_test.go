package schedule_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/schedule"
	"github.com/servercheck/uptime/proto-events/gen/eventsv1"
)

func TestSpecLeavesMaskedSecretsOutOfThePlainRequest(t *testing.T) {
	t.Parallel()
	row := schedule.MonitorRow{
		ID: "m1", URL: "https://example.com", Frequency: 60, IsActive: true, MonitorType: "HTTP",
		Config: []byte(`{"http": {"method": "POST",
			"headers": {"Authorization": "` + schedule.SecretMask + `", "Accept": "application/json"},
			"body": "` + schedule.SecretMask + `"}}`),
		SealedSecrets: []byte{1, 2, 3},
	}
	spec, err := row.Spec()
	require.NoError(t, err)
	r := spec.GetRequest()
	assert.Equal(t, []*eventsv1.Header{{Name: "Accept", Value: "application/json"}}, r.GetHeaders(),
		"a masked header is sent from the sealed secrets, never as the mask")
	assert.Empty(t, r.GetBody(), "a masked body is sent from the sealed secrets")
	assert.Equal(t, []byte{1, 2, 3}, r.GetSealedSecrets())
}
