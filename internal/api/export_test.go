package api

// Patterns lists the ServeMux patterns of every route the API serves, for
// the route-table tests.
func (s *Server) Patterns() []string {
	var out []string
	for _, rt := range s.routes() {
		out = append(out, rt.pattern)
	}
	return out
}
