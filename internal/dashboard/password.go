package dashboard

import (
	"sync"

	"github.com/kassa-pay/kassa/internal/account"
)

// hasher runs at most n argon2 computations at once, which bounds their
// memory (19 MiB each) however many sign-ins arrive together.
type hasher struct {
	sem   chan struct{}
	once  sync.Once
	dummy string
}

func newHasher(n int) *hasher { return &hasher{sem: make(chan struct{}, n)} }

func (h *hasher) hash(pw string) (string, error) {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	return account.HashPassword(pw)
}

func (h *hasher) verify(encoded, pw string) (ok, rehash bool, err error) {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	return account.VerifyPassword(encoded, pw)
}

// verifyNobody spends the time of a verification for an email without an
// account, so the answer's timing does not tell which emails exist.
func (h *hasher) verifyNobody(pw string) {
	h.once.Do(func() {
		h.dummy, _ = account.HashPassword(randomToken())
	})
	_, _, _ = h.verify(h.dummy, pw)
}
