package chat

// Rule is whether chat is on, and the setting that decided it.
type Rule struct {
	Enabled bool
	// Source names the setting and its file ("chat.enabled = false in
	// /etc/peercall/policy.toml"); "" for the default.
	Source string
}

// Effective is the rule in force: the user's chat.enabled (userFile) under
// the administrator's (adminFile; nil: the policy says nothing). The
// policy can only turn chat off.
func Effective(user bool, userFile string, admin *bool, adminFile string) Rule {
	switch {
	case admin != nil && !*admin:
		return Rule{Source: "chat.enabled = false in the admin policy " + adminFile}
	case !user:
		return Rule{Source: "chat.enabled = false in " + userFile}
	}
	return Rule{Enabled: true}
}

// Describe is the rule as `status` shows it.
func (r Rule) Describe() string {
	if r.Enabled {
		return "enabled"
	}
	return "disabled by " + r.Source
}
