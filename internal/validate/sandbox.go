package validate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// AllowPolicyNetworkFlag is the ferry validate flag that sets
// PolicyOptions.AllowNetwork; error messages name it.
const AllowPolicyNetworkFlag = "--allow-policy-network"

// Policies come from the repository under review: a pull request can change
// them, and the CI job that runs ferry validate has its secrets in reach. So
// by default they run without the OPA built-ins that reach the network, the
// file system, the environment or the runtime. OPA's own mechanism enforces
// it: the built-ins are left out of the compiler's capabilities, so a policy
// calling one does not compile ("undefined function"), and nothing of it runs.
//
// disabledBuiltins is the list, each with why (it reads after "it").
var disabledBuiltins = map[string]string{
	"http.send":          "sends HTTP requests, and reads the TLS files and environment variables a request names",
	"net.lookup_ip_addr": "resolves host names over DNS, which carries data out of the CI job",
	"opa.runtime":        "returns the runtime's environment variables and configuration",
	// allow_net does not cover file:// $refs: the loader opens any path.
	"json.match_schema":  `resolves the schema's "$ref"s, reading local files (file://) and fetching URLs`,
	"json.verify_schema": `resolves the schema's "$ref"s, reading local files (file://) and fetching URLs`,
}

// reviewedBuiltins are OPA's nondeterministic built-ins that stay enabled:
// they reach neither the network, the file system nor the environment. A
// nondeterministic built-in in neither list (one a newer OPA adds) is
// disabled until someone reviews it; TestDisabledBuiltins fails
// when that happens, so the lists stay the whole story.
var reviewedBuiltins = map[string]string{
	"time.now_ns":            "reads the clock",
	"rand.intn":              "a pseudo-random number, the same for the same arguments within one query",
	"uuid.rfc4122":           "random bytes from crypto/rand",
	"io.jwt.decode_verify":   "checks a token with keys the policy gives, against the clock",
	"io.jwt.encode_sign":     "signs with a key the policy gives (random nonce)",
	"io.jwt.encode_sign_raw": "signs with a key the policy gives (random nonce)",
}

// disabledReasons maps every built-in of this OPA version that policies may
// not call by default to why.
var disabledReasons = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if reason, ok := disabledBuiltins[b.Name]; ok {
			out[b.Name] = reason
		} else if _, ok := reviewedBuiltins[b.Name]; b.Nondeterministic && !ok {
			out[b.Name] = "is a nondeterministic built-in Ferry has not reviewed (it may reach the network, files or the environment)"
		}
	}
	return out
})

// DisabledBuiltins lists, sorted, the built-ins policies may not call
// unless PolicyOptions.AllowNetwork (--allow-policy-network) is set.
func DisabledBuiltins() []string {
	var out []string
	for name := range disabledReasons() {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// policyCapabilities are the OPA capabilities policies compile with.
func policyCapabilities(allowNetwork bool) *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	if allowNetwork {
		return caps
	}
	reasons := disabledReasons()
	caps.Builtins = slices.DeleteFunc(caps.Builtins, func(b *ast.Builtin) bool {
		_, disabled := reasons[b.Name]
		return disabled
	})
	// No host either for what remains: an empty (not nil) allow_net denies
	// every host, to JSON schema "$ref"s of the type checker included.
	caps.AllowNet = []string{}
	return caps
}

// compileError explains a policy compile error: a call to a disabled
// built-in names the file and line, the built-in, why it is disabled and
// the flag that enables it.
func compileError(err error) error {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return fmt.Errorf("compile policies: %w", err)
	}
	reasons := disabledReasons()
	lines := make([]string, 0, len(errs))
	disabled := false
	for _, e := range errs {
		name, undefined := strings.CutPrefix(e.Message, "undefined function ")
		reason, ok := reasons[name]
		if !undefined || !ok {
			lines = append(lines, e.Error())
			continue
		}
		disabled = true
		at := "policy"
		if e.Location != nil {
			at = fmt.Sprintf("%s:%d", e.Location.File, e.Location.Row)
		}
		lines = append(lines, fmt.Sprintf("%s: built-in %s is disabled in policies: it %s (%s enables it)",
			at, name, reason, AllowPolicyNetworkFlag))
	}
	if !disabled {
		return fmt.Errorf("compile policies: %w", err)
	}
	return fmt.Errorf("compile policies: %s", strings.Join(lines, "; "))
}
