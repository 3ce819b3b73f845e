package pglock

import "testing"

func TestKeysAreDistinct(t *testing.T) {
	seen := map[int64]string{}
	for name, k := range Keys {
		if other, ok := seen[k]; ok {
			t.Errorf("%s and %s share the key %#x", name, other, k)
		}
		seen[k] = name
	}
	if len(Keys) < 4 {
		t.Fatalf("Keys lists %d locks", len(Keys))
	}
	for _, schema := range []string{"public", "kassa", "t_0123456789abcdef"} {
		if name, ok := seen[Leader(schema)]; ok {
			t.Errorf("the leader key of %s is %s's", schema, name)
		}
	}
	if Leader("x") == Leader("y") {
		t.Error("two schemas share a leader key")
	}
}
