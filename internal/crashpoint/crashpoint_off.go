//go:build !crashpoints

package crashpoint

// Enabled is false in production binaries, which carry no crash points.
const Enabled = false

// Hit does nothing: this binary was built without the crashpoints tag.
// Callers pass a point's name in parts, not joined, because the compiler
// removes an unused variadic argument with the inlined call but keeps a
// string concatenation.
func Hit(...string) {}
