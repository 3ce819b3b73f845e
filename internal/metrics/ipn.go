package metrics

// The notification worker's process-local instruments, in Default, for the
// worker to update as it sends (kassa serve exposes Default at /metrics):
//
//	metrics.IPNRequests.With("delivered").Inc()   // a 2xx answer
//	metrics.IPNRequests.With("retry").Inc()       // failed, will be retried
//	metrics.IPNRequests.With("failed").Inc()      // failed, retrying stopped
//	metrics.IPNRequestSeconds.ObserveDuration(d)  // one HTTP attempt
//
// They count what this process sent since it started. The totals over
// every process and node, kassa_ipn_attempts_total, kassa_ipn_failures_total
// and kassa_ipn_backlog, are read from the deliveries tables at scrape time
// (internal/store/metrics.go) and need nothing from the worker.
var (
	// IPNRequests counts this process's IPN attempts by outcome:
	// delivered, retry or failed.
	IPNRequests = Default.NewCounterVec("kassa_ipn_requests_total",
		"IPN attempts this process made, by outcome: delivered, retry (failed, will be retried) or failed (retrying stopped).",
		"outcome")
	// IPNRequestSeconds is the duration of this process's IPN attempts.
	IPNRequestSeconds = Default.NewHistogram("kassa_ipn_request_duration_seconds",
		"Duration of the IPN HTTP attempts this process made.", DefBuckets)
)
