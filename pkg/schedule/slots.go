package schedule

import (
	"hash/fnv"
	"time"
)

// Phase is the offset in milliseconds of id's slots within a period:
// fnv32a(id) mod period. Spreading monitors by a hash of their id keeps the
// slots of monitors created together (or restored together after an
// outage) from all landing on :00.
func Phase(id string, period time.Duration) int64 {
	p := period.Milliseconds()
	if p <= 0 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(id)) // hash.Hash never fails
	return int64(h.Sum32()) % p
}

// FirstSlot is the first slot of id at or after nowMs (unix milliseconds):
// the first phase(id) + k*period >= nowMs. The upsert script computes the
// same in Lua from Redis TIME.
func FirstSlot(id string, period time.Duration, nowMs int64) int64 {
	p := period.Milliseconds()
	phase := Phase(id, period)
	k := (nowMs - phase + p - 1) / p
	return phase + k*p
}

// LatestSlot is the latest slot at or before nowMs on the grid of anchor (a
// slot of the monitor) and period; earlier missed slots are skipped. The
// claim script computes the same in Lua.
func LatestSlot(anchorMs int64, period time.Duration, nowMs int64) int64 {
	p := period.Milliseconds()
	if nowMs < anchorMs {
		return anchorMs
	}
	return anchorMs + (nowMs-anchorMs)/p*p
}
