// Package pglock holds the key of every PostgreSQL advisory lock kassa
// takes, in one place, so that no two purposes share a key by accident
// (the outbox planner's and the first account's once did). A lock taken
// for two purposes makes one wait for the other, or, with a try-lock,
// silently skip its work.
package pglock

import "hash/fnv"

// The transaction-level (pg_advisory_xact_lock) keys of the store. Each
// is "kassa" in ASCII followed by its own number; Keys lists them all.
const (
	// Migrate serialises schema migrations across nodes.
	Migrate int64 = 0x6b61737361_01
	// Create is held shared by invoice-creation batches and exclusively
	// by InvoicesAfter, so paging by sequence never passes a batch in
	// flight.
	Create int64 = 0x6b61737361_02
	// Plan is the try-lock the outbox planners of several nodes take
	// turns on.
	Plan int64 = 0x6b61737361_03
	// Account serialises the first dashboard account's creation.
	Account int64 = 0x6b61737361_04
)

// Keys is every fixed key, for the test that no two are equal.
var Keys = map[string]int64{"migrate": Migrate, "create": Create, "plan": Plan, "account": Account}

// Leader is the session-level key the nodes of the deployment whose
// tables live in schema compete for (package leader): a hash, so that
// deployments in other schemas of one database elect their own leaders.
func Leader(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("kassa leader\x00" + schema))
	return int64(h.Sum64())
}
