//go:build node

package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/chain"
	"github.com/kassa-pay/kassa/internal/gateway"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/kassatest"
	"github.com/kassa-pay/kassa/internal/store"
)

// createsDuringLoad is the store of a node taking over the chain watcher
// while another node keeps creating invoices: right after the open
// invoices are read, the other node commits one more.
type createsDuringLoad struct {
	*store.DB
	other   func() *invoice.Invoice
	created *invoice.Invoice
}

func (s *createsDuringLoad) OpenInvoices(ctx context.Context, closedSince time.Time) ([]invoice.Invoice, error) {
	invs, err := s.DB.OpenInvoices(ctx, closedSince)
	if err == nil && s.created == nil {
		s.created = s.other()
	}
	return invs, err
}

// TestTakeoverWatchesInvoicesCreatedWhileLoading: a processor starting up
// (a new leader) must watch an invoice another node created while it was
// loading the open ones, so the payment to it is seen.
func TestTakeoverWatchesInvoicesCreatedWhileLoading(t *testing.T) {
	h := newHarness(t, startNode(t), invoice.SpeedMedium)
	h.stop() // the old leader is gone
	other := gateway.New(gateway.Config{Store: h.db, Rates: kassatest.Rates(t), Network: "regtest", Log: h.log})
	defer other.Close()
	db := &createsDuringLoad{DB: h.db, other: func() *invoice.Invoice {
		inv, err := other.CreateInvoice(context.Background(), h.storeID, gateway.NewInvoice{Price: "10", Currency: "USD"})
		if err != nil {
			t.Error(err)
		}
		return inv
	}}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proc := gateway.NewProcessor(h.g, gateway.ProcessorConfig{Store: db})
	backend, err := chain.Open(ctx, chain.Options{URL: h.node.RPCURL(), Network: "regtest", Sink: proc, PollInterval: h.poll, Log: h.log})
	if err != nil {
		t.Fatal(err)
	}
	proc.Attach(backend)
	if err := proc.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if db.created == nil {
		t.Fatal("no invoice was created during the load")
	}
	done := make(chan struct{}, 2)
	go func() { _ = backend.Run(ctx); done <- struct{}{} }()
	go func() { _ = proc.Run(ctx, h.poll); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()

	h.pay(db.created, db.created.Due())
	h.wait(db.created.ID, invoice.StatusPaid, invoice.ExceptionNone)
}
