// Package crashpoint stops rotor at named points between the steps of a
// secrets-manager write, so that a test can kill the process exactly there
// and check what a restart makes of it.
//
// The points exist only in binaries built with the build tag crashpoints
// (go build -tags crashpoints). Without it, Hit is an empty function that
// the compiler inlines away, and ROTOR_CRASHPOINT has no effect.
//
// Names have the form "<step>/<point>", such as "promote/after-intent", or
// "recover/<step>/after-backend" for the repeat that rotor makes at
// start-up. The points are:
//
//   - after-intent: the step is recorded as intended, and the secrets
//     manager has not been called.
//   - after-backend: the secrets-manager call returned, and its outcome
//     (completion or failure) is not recorded.
package crashpoint

// EnvVar is the environment variable that names the one point at which a
// binary built with the crashpoints tag stops.
const EnvVar = "ROTOR_CRASHPOINT"
