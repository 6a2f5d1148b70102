package plan

// Hash returns the hash a plan's changes and guard should carry: apply
// compares it with Plan.Hash, so it executes exactly the plan that was shown.
func Hash(p Plan) string { return hash(p) }
