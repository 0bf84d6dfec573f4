package store

import (
	"strconv"
	"strings"
)

// FormatDuration renders milliseconds the way the front end shows every
// duration: floored to whole seconds, as "Xd Xh Xm Xs" with zero parts left
// out ("1h", "1d 1h 1m 1s") and "0s" when nothing is left. A negative
// duration, which only clock skew can produce, renders as "0s".
func FormatDuration(ms int64) string {
	if ms < 1000 {
		return "0s"
	}
	secs := ms / 1000
	parts := make([]string, 0, 4)
	for _, unit := range []struct {
		seconds int64
		suffix  string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if n := secs / unit.seconds; n > 0 {
			parts = append(parts, strconv.FormatInt(n, 10)+unit.suffix)
			secs -= n * unit.seconds
		}
	}
	return strings.Join(parts, " ")
}
