package account

// Role is a user's role in a store.
type Role string

// The roles, from least to most trusted.
const (
	RoleEmployee Role = "employee"
	RoleManager  Role = "manager"
	RoleOwner    Role = "owner"
)

func (r Role) rank() int {
	switch r {
	case RoleEmployee:
		return 1
	case RoleManager:
		return 2
	case RoleOwner:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r grants everything min does. An unknown role
// grants nothing.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.rank() >= min.rank() }

// ParseRole reads a role by its name and reports whether it is one.
func ParseRole(s string) (Role, bool) {
	r := Role(s)
	return r, r.Valid()
}

// Membership is a user's role in a store.
type Membership struct {
	UserID  string
	StoreID string
	Role    Role
}
