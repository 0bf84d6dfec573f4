package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servercheck/uptime/pkg/lifecycle"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fake is a component whose behaviour is scripted by the test.
type fake struct {
	// failAfter, when positive, makes Run return failErr after that long
	// unless ctx ends first.
	failAfter time.Duration
	failErr   error
	// stopErr is what Run returns once ctx ends.
	stopErr error
	// stopTakes is how long Run keeps going after ctx ends.
	stopTakes time.Duration
	// release, when set, makes Run ignore ctx and wait for it instead.
	release chan struct{}

	sawCancel atomic.Bool
	stopped   atomic.Bool
}

func (f *fake) Run(ctx context.Context) error {
	defer f.stopped.Store(true)
	if f.release != nil {
		<-f.release
		return nil
	}
	var fail <-chan time.Time
	if f.failAfter > 0 {
		fail = time.After(f.failAfter)
	}
	select {
	case <-fail:
		return f.failErr
	case <-ctx.Done():
		f.sawCancel.Store(true)
	}
	time.Sleep(f.stopTakes) //nolint:forbidigo // simulated work on the synctest bubble's fake clock
	return f.stopErr
}

// start runs lifecycle.Run in a goroutine of the bubble and returns a channel
// receiving its result.
func start(ctx context.Context, timeout time.Duration, components ...lifecycle.Named) <-chan error {
	done := make(chan error, 1)
	go func() { done <- lifecycle.Run(ctx, discard(), timeout, components...) }()
	return done
}

func TestRunStopsEveryComponentWhenContextIsCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stopErr error
	}{
		{name: "components returning nil stop cleanly", stopErr: nil},
		{name: "components returning context.Canceled stop cleanly", stopErr: context.Canceled},
		{name: "components returning a wrapped context.Canceled stop cleanly", stopErr: fmt.Errorf("read stream: %w", context.Canceled)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				a := &fake{stopErr: tt.stopErr}
				b := &fake{stopErr: tt.stopErr, stopTakes: 2 * time.Second}
				c := &fake{stopErr: tt.stopErr}
				done := start(ctx, 10*time.Second,
					lifecycle.Named{Name: "a", Component: a},
					lifecycle.Named{Name: "b", Component: b},
					lifecycle.Named{Name: "c", Component: c},
				)

				time.Sleep(time.Hour) //nolint:forbidigo // advances the synctest bubble's fake clock
				synctest.Wait()
				require.Empty(t, done, "Run must keep going while ctx is live")

				cancel()
				cancelledAt := time.Now()
				err := <-done

				require.NoError(t, err)
				for name, f := range map[string]*fake{"a": a, "b": b, "c": c} {
					assert.True(t, f.sawCancel.Load(), "%s saw the cancellation", name)
					assert.True(t, f.stopped.Load(), "%s returned before Run did", name)
				}
				assert.Equal(t, 2*time.Second, time.Since(cancelledAt), "Run waits for the slowest component, no longer")
			})
		})
	}
}

var errBoom = errors.New("boom")

func TestRunStopsTheOthersWhenOneFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		failing := &fake{failAfter: 5 * time.Second, failErr: errBoom}
		other := &fake{}
		later := &fake{failAfter: time.Minute, failErr: errors.New("never reached")}
		started := time.Now()

		err := lifecycle.Run(ctx, discard(), 10*time.Second,
			lifecycle.Named{Name: "other", Component: other},
			lifecycle.Named{Name: "consumer", Component: failing},
			lifecycle.Named{Name: "later", Component: later},
		)

		require.Error(t, err)
		require.ErrorIs(t, err, errBoom)
		assert.Equal(t, "consumer: boom", err.Error(), "only the failure, wrapped with the component's name")
		assert.True(t, other.sawCancel.Load(), "the other component was stopped")
		assert.True(t, later.sawCancel.Load(), "the later component was stopped before it could fail")
		assert.Equal(t, 5*time.Second, time.Since(started))
		assert.NoError(t, ctx.Err(), "Run does not need the caller to cancel")
	})
}

func TestRunTreatsAComponentThatFinishesOnItsOwnAsAFailure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		quitter := &fake{failAfter: 3 * time.Second, failErr: nil}
		other := &fake{}

		err := lifecycle.Run(t.Context(), discard(), 10*time.Second,
			lifecycle.Named{Name: "scheduler", Component: quitter},
			lifecycle.Named{Name: "http", Component: other},
		)

		require.Error(t, err)
		assert.Contains(t, err.Error(), "scheduler")
		assert.Contains(t, err.Error(), "stopped unexpectedly")
		assert.NotContains(t, err.Error(), "http")
		assert.True(t, other.sawCancel.Load())
	})
}

func TestRunTreatsContextCanceledFromALiveComponentAsAFailure(t *testing.T) {
	t.Parallel()
	// A component whose own internal context was cancelled (not Run's) has
	// stopped for no reason the process asked for: that must not look like a
	// clean shutdown, or the service exits 0 while nobody asked it to stop.
	synctest.Test(t, func(t *testing.T) {
		quitter := &fake{failAfter: time.Second, failErr: fmt.Errorf("poll: %w", context.Canceled)}
		other := &fake{}

		err := lifecycle.Run(t.Context(), discard(), 10*time.Second,
			lifecycle.Named{Name: "poller", Component: quitter},
			lifecycle.Named{Name: "http", Component: other},
		)

		require.Error(t, err)
		assert.Contains(t, err.Error(), "poller")
	})
}

func TestRunGivesUpAfterTheShutdownTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// stuck ignores cancellation; fail, when set, fails first.
		failFirst bool
	}{
		{name: "a component ignoring cancellation makes Run return ErrShutdownTimeout"},
		{name: "a failure and a stuck component are both reported", failFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				const timeout = 7 * time.Second
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				stuck := &fake{release: make(chan struct{})}
				// The stuck goroutine must end before the bubble does.
				defer close(stuck.release)
				polite := &fake{stopTakes: time.Second}
				components := []lifecycle.Named{
					{Name: "stuck", Component: stuck},
					{Name: "polite", Component: polite},
				}
				if tt.failFirst {
					components = append(components, lifecycle.Named{
						Name: "failing", Component: &fake{failAfter: time.Minute, failErr: errBoom},
					})
				}
				done := start(ctx, timeout, components...)

				var stopAt time.Time
				if tt.failFirst {
					stopAt = time.Now().Add(time.Minute)
				} else {
					time.Sleep(time.Minute) //nolint:forbidigo // advances the synctest bubble's fake clock
					cancel()
					stopAt = time.Now()
				}
				err := <-done

				require.ErrorIs(t, err, lifecycle.ErrShutdownTimeout)
				assert.Equal(t, timeout, time.Since(stopAt), "Run returns exactly when the timeout expires")
				assert.Contains(t, err.Error(), "1 component(s)")
				assert.True(t, polite.stopped.Load(), "the polite component was waited for")
				assert.False(t, stuck.stopped.Load())
				if tt.failFirst {
					assert.ErrorIs(t, err, errBoom)
					assert.Contains(t, err.Error(), "failing: boom")
				}
			})
		})
	}
}

func TestRunWaitsForAComponentThatStopsJustInTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		slow := &fake{stopTakes: 10*time.Second - time.Millisecond}
		done := start(ctx, 10*time.Second, lifecycle.Named{Name: "slow", Component: slow})

		cancel()
		require.NoError(t, <-done)
		assert.True(t, slow.stopped.Load())
	})
}

func TestRunReportsErrorsReturnedDuringShutdown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		errFlush := errors.New("flush ping logs")
		ctx, cancel := context.WithCancel(t.Context())
		done := start(ctx, 10*time.Second,
			lifecycle.Named{Name: "writer", Component: &fake{stopErr: errFlush}},
			lifecycle.Named{Name: "http", Component: &fake{}},
		)

		cancel()
		err := <-done

		require.ErrorIs(t, err, errFlush)
		assert.Equal(t, "writer: flush ping logs", err.Error())
	})
}

func TestRunWithoutComponentsWaitsForTheContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		done := start(ctx, time.Second)

		time.Sleep(time.Hour) //nolint:forbidigo // advances the synctest bubble's fake clock
		synctest.Wait()
		require.Empty(t, done)

		cancel()
		require.NoError(t, <-done)
	})
}

func TestComponentFuncCallsTheFunction(t *testing.T) {
	t.Parallel()
	var got context.Context
	f := lifecycle.ComponentFunc(func(ctx context.Context) error {
		got = ctx
		return errBoom
	})
	ctx := t.Context()

	err := f.Run(ctx)

	require.ErrorIs(t, err, errBoom)
	assert.Equal(t, ctx, got)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      lifecycle.Config
		wantErrs []string
	}{
		{name: "the defaults are valid", cfg: lifecycle.Config{ShutdownTimeout: 25 * time.Second}},
		{name: "a drain delay below the timeout is valid", cfg: lifecycle.Config{ShutdownTimeout: 25 * time.Second, DrainDelay: 5 * time.Second}},
		{name: "a zero timeout is reported", cfg: lifecycle.Config{}, wantErrs: []string{"SHUTDOWN_TIMEOUT_MS: must be positive"}},
		{name: "a negative timeout is reported", cfg: lifecycle.Config{ShutdownTimeout: -time.Second}, wantErrs: []string{"SHUTDOWN_TIMEOUT_MS"}},
		{name: "a negative drain delay is reported", cfg: lifecycle.Config{ShutdownTimeout: time.Second, DrainDelay: -time.Millisecond}, wantErrs: []string{"SHUTDOWN_DRAIN_DELAY_MS"}},
		{name: "a drain delay equal to the timeout is reported", cfg: lifecycle.Config{ShutdownTimeout: time.Second, DrainDelay: time.Second}, wantErrs: []string{"SHUTDOWN_DRAIN_DELAY_MS: must be at least 0 and below SHUTDOWN_TIMEOUT_MS"}},
		{name: "a drain delay above the timeout is reported", cfg: lifecycle.Config{ShutdownTimeout: time.Second, DrainDelay: 2 * time.Second}, wantErrs: []string{"SHUTDOWN_DRAIN_DELAY_MS"}},
		{name: "both problems are reported together", cfg: lifecycle.Config{ShutdownTimeout: -time.Second, DrainDelay: -time.Second}, wantErrs: []string{"SHUTDOWN_TIMEOUT_MS", "SHUTDOWN_DRAIN_DELAY_MS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if len(tt.wantErrs) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, part := range tt.wantErrs {
				assert.Contains(t, err.Error(), part)
			}
		})
	}
}
