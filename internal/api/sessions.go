package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/bitpay"
)

// API sessions (spec §8) protect a client's retries: a client opens a
// session with POST /sessions and numbers its requests 1, 2, 3… in
// sessionId and requestNumber (in the JSON body of POST and PUT, which the
// signature covers). The next number runs the request; the last number
// again is answered with the cached answer of its first run, so a retry
// after a timeout never creates a second invoice; any other number is
// refused. A session unused for SessionIdle is gone.
const (
	SessionIdle = 15 * time.Minute
	// MsgInvalidSession is BitPay's text, which clients match to open a
	// new session and retry.
	MsgInvalidSession = "Invalid or expired sessionId"
	// maxSessions bounds the sessions held; at the bound, expired sessions
	// are dropped and then the least recently used.
	maxSessions = 10000
	// sessionsPerMinute limits how many sessions one client address opens
	// without a token.
	sessionsPerMinute = 30
)

// apiSession is one session's state.
type apiSession struct {
	// owner is the token value the session is bound to: the token that
	// opened it, or else the first that used it.
	owner string
	// last is the highest request number answered, status and body its
	// answer.
	last   int64
	status int
	body   []byte
	// pending is the number being run, zero if none; done closes when it
	// finishes.
	pending int64
	done    chan struct{}
	seen    time.Time
}

// sessionStore holds the sessions in memory.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[string]*apiSession
	max      int
	// openers limits tokenless session creation per client address.
	openers *keyedLimiter
}

func newSessionStore(max int) *sessionStore {
	return &sessionStore{sessions: make(map[string]*apiSession), max: max, openers: newKeyedLimiter(limiterMaxKeys)}
}

// open starts a session bound to owner ("" binds it on first use).
func (st *sessionStore) open(owner string, now time.Time) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.sessions) >= st.max {
		st.evict(now)
	}
	id := auth.NewID()
	st.sessions[id] = &apiSession{owner: owner, seen: now}
	return id
}

// evict drops expired sessions and, if still at the bound, the least
// recently used one that is not running a request.
func (st *sessionStore) evict(now time.Time) {
	var oldest string
	for id, s := range st.sessions {
		if s.pending == 0 && now.Sub(s.seen) >= SessionIdle {
			delete(st.sessions, id)
			continue
		}
		if s.pending == 0 && (oldest == "" || s.seen.Before(st.sessions[oldest].seen)) {
			oldest = id
		}
	}
	if len(st.sessions) >= st.max && oldest != "" {
		delete(st.sessions, oldest)
	}
}

// invalidSession is the answer to an unknown, expired or foreign session.
func invalidSession() *bitpay.Error {
	return &bitpay.Error{Status: http.StatusBadRequest, Code: bitpay.CodeInvalidParams, Msg: MsgInvalidSession}
}

// sessionStep is what begin decided: replay a cached answer, wait for the
// same number's first run, or run the request.
type sessionStep struct {
	replay bool
	status int
	body   []byte
	wait   chan struct{}
	run    *apiSession
}

// begin checks request n of session id for the token owner.
func (st *sessionStore) begin(id, owner string, n int64, now time.Time) (sessionStep, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.sessions[id]
	if ok && s.pending == 0 && now.Sub(s.seen) >= SessionIdle {
		delete(st.sessions, id)
		ok = false
	}
	if !ok || (s.owner != "" && s.owner != owner) {
		return sessionStep{}, invalidSession()
	}
	if n <= 0 {
		return sessionStep{}, bitpay.FieldError("requestNumber", "must be a positive integer")
	}
	s.owner, s.seen = owner, now
	switch {
	case s.pending != 0 && n == s.pending:
		return sessionStep{wait: s.done}, nil
	case s.pending != 0:
		return sessionStep{}, bitpay.Conflict(bitpay.CodeGeneric, fmt.Sprintf("request %d of this session is still running", s.pending))
	case n == s.last:
		return sessionStep{replay: true, status: s.status, body: s.body}, nil
	case n == s.last+1:
		s.pending, s.done = n, make(chan struct{})
		return sessionStep{run: s}, nil
	}
	return sessionStep{}, bitpay.Conflict(bitpay.CodeGeneric, fmt.Sprintf("requestNumber %d is out of order: the next is %d", n, s.last+1))
}

// finish records the answer to the session's pending request, or, when
// the handler wrote none (it panicked), lets the number run again.
func (st *sessionStore) finish(s *apiSession, status int, body []byte, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if status != 0 {
		s.last, s.status, s.body = s.pending, status, body
	}
	s.pending, s.seen = 0, now
	close(s.done)
}

// sessionRecorder passes an answer through and keeps a copy for replays.
type sessionRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (rec *sessionRecorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *sessionRecorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	rec.body.Write(b)
	return rec.ResponseWriter.Write(b)
}

func (rec *sessionRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// beginSession runs an authenticated request through its session, if it
// names one. It returns the writer to answer through and a function to
// defer that records the answer; ok is false when the request has been
// answered already (a replay or a session error). Without a sessionId the
// request passes unchanged.
func (s *Server) beginSession(w http.ResponseWriter, r *http.Request, c caller, id string, n int64) (http.ResponseWriter, func(), bool) {
	if id == "" {
		return w, func() {}, true
	}
	for {
		step, err := s.sessions.begin(id, c.token.Value, n, s.cfg.Clock())
		if err != nil {
			WriteError(w, r, err)
			return w, nil, false
		}
		switch {
		case step.replay:
			bitpay.WriteRaw(w, step.status, step.body)
			return w, nil, false
		case step.wait != nil:
			// A retry that overtook its own first run waits for its answer.
			select {
			case <-step.wait:
				continue
			case <-r.Context().Done():
				WriteError(w, r, r.Context().Err())
				return w, nil, false
			}
		}
		rec := &sessionRecorder{ResponseWriter: w}
		return rec, func() {
			s.sessions.finish(step.run, rec.status, bytes.Clone(rec.body.Bytes()), s.cfg.Clock())
		}, true
	}
}

// querySession is beginSession for GET and DELETE, whose sessionId and
// requestNumber travel in the query string (and so inside the signed
// request-target).
func (s *Server) querySession(w http.ResponseWriter, r *http.Request, c caller) (http.ResponseWriter, func(), bool) {
	q := r.URL.Query()
	id := q.Get("sessionId")
	if id == "" {
		return w, func() {}, true
	}
	n, err := strconv.ParseInt(q.Get("requestNumber"), 10, 64)
	if err != nil {
		WriteError(w, r, bitpay.FieldError("requestNumber", "must be a positive integer"))
		return w, nil, false
	}
	return s.beginSession(w, r, c, id, n)
}

// sessionRequest is a POST /sessions body; all of it is optional.
type sessionRequest struct {
	Token string `json:"token"`
	GUID  string `json:"guid"`
}

// createSession serves POST /sessions: {"data":"<sessionId>"}. Spec §8
// has it public; a request with a pos or merchant token (signed as the
// token requires) binds the session to that token at once, a tokenless
// one binds it to the first token that uses it and is limited per client
// address, since anyone may open one.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r, 16<<10)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	var req sessionRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			WriteError(w, r, bitpay.BadRequest("request body is not a JSON object"))
			return
		}
	}
	now := s.cfg.Clock()
	owner := ""
	if req.Token != "" {
		c, err := s.authenticate(r, req.Token, body)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		if err := requireFacade(c, auth.FacadePOS, auth.FacadeMerchant); err != nil {
			WriteError(w, r, err)
			return
		}
		owner = c.token.Value
	} else if ok, wait := s.sessions.openers.take(clientAddr(r), [3]rate{{sessionsPerMinute, time.Minute}}, now, true); !ok {
		writeRateLimited(w, r, wait)
		return
	}
	bitpay.WriteData(w, http.StatusOK, "", s.sessions.open(owner, now))
}
