package validate

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SecurityRule describes one built-in check.
type SecurityRule struct {
	ID       string   // "FERRY-SEC-001" ...
	Title    string   // short, e.g. "privileged container"
	Severity Severity // default level
	Fix      string   // one-line remedy, e.g. "set securityContext.privileged: false"
}

// SecurityOptions tune the checks.
type SecurityOptions struct {
	// Levels overrides a rule's severity by ID; the value "off"
	// (Severity("off")) disables it. Values other than "error", "warning",
	// "info" and "off" are ignored (the rule keeps its default level), so
	// callers should reject them when reading their configuration.
	Levels map[string]Severity
}

// IgnoreAnnotationPrefix: an object annotated
// "validate.ferry.dev/ignore.<RULE-ID>: <reason>" suppresses that rule for
// itself. The reason must be non-empty; otherwise the suppression is not
// honoured and a FERRY-SEC-000 finding (severity error) is reported instead.
const IgnoreAnnotationPrefix = "validate.ferry.dev/ignore."

// severityOff disables a rule in SecurityOptions.Levels.
const severityOff Severity = "off"

// suppressionRuleID reports an ignore annotation without a reason. It is not
// one of SecurityRules and its level cannot be overridden: a suppression
// must never be silent.
const suppressionRuleID = "FERRY-SEC-000"

// securityRulePrefix is shared by every built-in security rule ID.
const securityRulePrefix = "FERRY-SEC-"

// securityCheck pairs a rule with the function that finds its violations in
// one pod spec; the function returns one message per violation, in
// container order.
type securityCheck struct {
	rule  SecurityRule
	check func(p *workloadPod) []string
}

// securityChecks are the built-in rules, in ID order.
var securityChecks = []securityCheck{
	{SecurityRule{"FERRY-SEC-001", "privileged container", SeverityError,
		"set securityContext.privileged: false"}, checkPrivileged},
	{SecurityRule{"FERRY-SEC-002", "privilege escalation allowed", SeverityWarning,
		"set securityContext.allowPrivilegeEscalation: false"}, checkPrivilegeEscalation},
	{SecurityRule{"FERRY-SEC-003", "may run as root", SeverityWarning,
		"set securityContext.runAsNonRoot: true and run the image as a non-zero UID"}, checkRunAsNonRoot},
	{SecurityRule{"FERRY-SEC-004", "writable root filesystem", SeverityWarning,
		"set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the process writes"}, checkReadOnlyRootFS},
	{SecurityRule{"FERRY-SEC-005", "dangerous capability added", SeverityError,
		"remove the capability from securityContext.capabilities.add (and drop ALL)"}, checkCapabilities},
	{SecurityRule{"FERRY-SEC-006", "host network", SeverityError,
		"remove hostNetwork: true from the pod spec"}, podFlagCheck("hostNetwork")},
	{SecurityRule{"FERRY-SEC-007", "host PID namespace", SeverityError,
		"remove hostPID: true from the pod spec"}, podFlagCheck("hostPID")},
	{SecurityRule{"FERRY-SEC-008", "host IPC namespace", SeverityError,
		"remove hostIPC: true from the pod spec"}, podFlagCheck("hostIPC")},
	{SecurityRule{"FERRY-SEC-009", "hostPath volume", SeverityWarning,
		"use an emptyDir, configMap, secret or persistentVolumeClaim volume instead of hostPath"}, checkHostPath},
	{SecurityRule{"FERRY-SEC-010", "missing resource limits", SeverityWarning,
		"set resources.limits.cpu and resources.limits.memory"}, resourcesCheck("limits")},
	{SecurityRule{"FERRY-SEC-011", "missing resource requests", SeverityWarning,
		"set resources.requests.cpu and resources.requests.memory"}, resourcesCheck("requests")},
	{SecurityRule{"FERRY-SEC-012", "unpinned image", SeverityWarning,
		"pin the image to a version tag or, better, a digest (image@sha256:...)"}, checkImage},
	{SecurityRule{"FERRY-SEC-013", "secret in env literal", SeverityError,
		"move the value into a Secret and reference it with valueFrom.secretKeyRef"}, checkEnvSecrets},
	{SecurityRule{"FERRY-SEC-014", "service account token mounted", SeverityInfo,
		"set automountServiceAccountToken: false on the pod spec unless the pod calls the Kubernetes API"}, checkAutomountToken},
}

// SecurityRules returns every built-in rule, in ID order.
func SecurityRules() []SecurityRule {
	rules := make([]SecurityRule, len(securityChecks))
	for i, c := range securityChecks {
		rules[i] = c.rule
	}
	return rules
}

// CheckSecurity runs the rules on one object and returns its findings with
// Rule, Severity, Message and Fix set (File, Line, Object and Unit are left
// for the caller), ordered by rule ID, then container order. Objects that
// carry no pod spec return nothing except FERRY-SEC-000 findings for ignore
// annotations without a reason.
func CheckSecurity(obj *unstructured.Unstructured, opts SecurityOptions) []Finding {
	if obj == nil {
		return nil
	}
	ignored, findings := suppressions(obj.GetAnnotations())
	pod := findPodSpec(obj)
	if pod == nil {
		return findings
	}
	for _, c := range securityChecks {
		level, on := opts.level(c.rule)
		if !on || ignored[c.rule.ID] {
			continue
		}
		for _, msg := range c.check(pod) {
			findings = append(findings, Finding{Rule: c.rule.ID, Severity: level, Message: msg, Fix: c.rule.Fix})
		}
	}
	return findings
}

// level returns the severity rule r reports at and whether it is enabled.
func (o SecurityOptions) level(r SecurityRule) (Severity, bool) {
	switch l := o.Levels[r.ID]; l {
	case severityOff:
		return "", false
	case SeverityError, SeverityWarning, SeverityInfo:
		return l, true
	}
	return r.Severity, true
}

// suppressions reads the ignore annotations: it returns the security rules
// suppressed with a reason, and a FERRY-SEC-000 finding for each one whose
// reason is empty, in rule ID order.
func suppressions(annotations map[string]string) (map[string]bool, []Finding) {
	ignored := map[string]bool{}
	var missing []string
	for key, reason := range annotations {
		id, ok := strings.CutPrefix(key, IgnoreAnnotationPrefix)
		if !ok || !strings.HasPrefix(id, securityRulePrefix) {
			continue
		}
		if strings.TrimSpace(reason) == "" {
			missing = append(missing, id)
			continue
		}
		ignored[id] = true
	}
	slices.Sort(missing)
	var findings []Finding
	for _, id := range missing {
		findings = append(findings, Finding{
			Rule:     suppressionRuleID,
			Severity: SeverityError,
			Message:  fmt.Sprintf("suppression of %s needs a reason: annotation %s%s is empty, so %s still applies", id, IgnoreAnnotationPrefix, id, id),
			Fix:      fmt.Sprintf("set the annotation %s%s to the reason the rule does not apply", IgnoreAnnotationPrefix, id),
		})
	}
	return ignored, findings
}

// workloadPod is the pod spec an object carries, with its containers.
type workloadPod struct {
	path       string // field path of the spec in the object: "spec.template.spec"
	spec       map[string]any
	containers []podContainer // containers, then initContainers, then ephemeralContainers
}

// podContainer is one entry of a pod spec's container lists.
type podContainer struct {
	label     string // `container "app"`, `init container "setup"`, ...
	ephemeral bool
	fields    map[string]any
}

// msg prefixes a message with the container it is about.
func (c podContainer) msg(format string, args ...any) string {
	return c.label + ": " + fmt.Sprintf(format, args...)
}

// podSpecPaths says where each workload kind keeps its pod spec.
var podSpecPaths = map[schema.GroupKind][]string{
	{Group: "", Kind: "Pod"}:                   {"spec"},
	{Group: "", Kind: "PodTemplate"}:           {"template", "spec"},
	{Group: "", Kind: "ReplicationController"}: {"spec", "template", "spec"},
	{Group: "apps", Kind: "Deployment"}:        {"spec", "template", "spec"},
	{Group: "apps", Kind: "StatefulSet"}:       {"spec", "template", "spec"},
	{Group: "apps", Kind: "DaemonSet"}:         {"spec", "template", "spec"},
	{Group: "apps", Kind: "ReplicaSet"}:        {"spec", "template", "spec"},
	{Group: "extensions", Kind: "Deployment"}:  {"spec", "template", "spec"},
	{Group: "extensions", Kind: "DaemonSet"}:   {"spec", "template", "spec"},
	{Group: "extensions", Kind: "ReplicaSet"}:  {"spec", "template", "spec"},
	{Group: "batch", Kind: "Job"}:              {"spec", "template", "spec"},
	{Group: "batch", Kind: "CronJob"}:          {"spec", "jobTemplate", "spec", "template", "spec"},
}

// podContainerLists are the pod spec fields holding containers, in check order.
var podContainerLists = []struct{ field, noun string }{
	{"containers", "container"},
	{"initContainers", "init container"},
	{"ephemeralContainers", "ephemeral container"},
}

// findPodSpec returns the pod spec obj carries, or nil when its kind has
// none or the spec is missing.
func findPodSpec(obj *unstructured.Unstructured) *workloadPod {
	path, ok := podSpecPaths[obj.GroupVersionKind().GroupKind()]
	if !ok {
		return nil
	}
	spec := nestedMap(obj.Object, path...)
	if spec == nil {
		return nil
	}
	p := &workloadPod{path: strings.Join(path, "."), spec: spec}
	for _, list := range podContainerLists {
		for i, item := range nestedSlice(spec, list.field) {
			fields, ok := item.(map[string]any)
			if !ok {
				continue
			}
			label := containerLabel(list.noun, nestedString(fields, "name"), fmt.Sprintf("%s[%d]", list.field, i))
			p.containers = append(p.containers, podContainer{label: label, ephemeral: list.field == "ephemeralContainers", fields: fields})
		}
	}
	return p
}

// containerLabel names a container in messages: `init container "setup"`,
// or its field path when it has no name.
func containerLabel(noun, name, path string) string {
	if name == "" {
		return path
	}
	return fmt.Sprintf("%s %q", noun, name)
}

// nestedValue returns the value at path in m, nil when absent.
func nestedValue(m map[string]any, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(m, path...)
	return v
}

// nestedMap returns the object at path in m, nil when absent or not an object.
func nestedMap(m map[string]any, path ...string) map[string]any {
	v, _ := nestedValue(m, path...).(map[string]any)
	return v
}

// nestedSlice returns the list at path in m, nil when absent or not a list.
func nestedSlice(m map[string]any, path ...string) []any {
	v, _ := nestedValue(m, path...).([]any)
	return v
}

// nestedString returns the string at path in m, "" when absent or not a string.
func nestedString(m map[string]any, path ...string) string {
	v, _ := nestedValue(m, path...).(string)
	return v
}

// nestedBool returns the boolean at path in m and whether it is set (a value
// that is not a boolean counts as unset).
func nestedBool(m map[string]any, path ...string) (value, set bool) {
	value, set = nestedValue(m, path...).(bool)
	return value, set
}

// checkPrivileged implements FERRY-SEC-001.
func checkPrivileged(p *workloadPod) []string {
	var msgs []string
	for _, c := range p.containers {
		if v, _ := nestedBool(c.fields, "securityContext", "privileged"); v {
			msgs = append(msgs, c.msg("securityContext.privileged is true"))
		}
	}
	return msgs
}

// checkPrivilegeEscalation implements FERRY-SEC-002: a missing field counts,
// since allowPrivilegeEscalation defaults to true.
func checkPrivilegeEscalation(p *workloadPod) []string {
	var msgs []string
	for _, c := range p.containers {
		switch v, set := nestedBool(c.fields, "securityContext", "allowPrivilegeEscalation"); {
		case !set:
			msgs = append(msgs, c.msg("securityContext.allowPrivilegeEscalation is not set (it defaults to true)"))
		case v:
			msgs = append(msgs, c.msg("securityContext.allowPrivilegeEscalation is true"))
		}
	}
	return msgs
}

// checkRunAsNonRoot implements FERRY-SEC-003: the container's
// securityContext.runAsNonRoot overrides the pod's.
func checkRunAsNonRoot(p *workloadPod) []string {
	podValue, podSet := nestedBool(p.spec, "securityContext", "runAsNonRoot")
	var msgs []string
	for _, c := range p.containers {
		v, set := nestedBool(c.fields, "securityContext", "runAsNonRoot")
		switch {
		case set && !v:
			msgs = append(msgs, c.msg("securityContext.runAsNonRoot is false"))
		case set: // the container's true wins over the pod
		case podSet && !podValue:
			msgs = append(msgs, c.msg("%s.securityContext.runAsNonRoot is false and the container does not override it", p.path))
		case !podSet:
			msgs = append(msgs, c.msg("securityContext.runAsNonRoot is not set in the container nor in %s.securityContext", p.path))
		}
	}
	return msgs
}

// checkReadOnlyRootFS implements FERRY-SEC-004.
func checkReadOnlyRootFS(p *workloadPod) []string {
	var msgs []string
	for _, c := range p.containers {
		switch v, set := nestedBool(c.fields, "securityContext", "readOnlyRootFilesystem"); {
		case !set:
			msgs = append(msgs, c.msg("securityContext.readOnlyRootFilesystem is not set (it defaults to false)"))
		case !v:
			msgs = append(msgs, c.msg("securityContext.readOnlyRootFilesystem is false"))
		}
	}
	return msgs
}

// dangerousCapabilities are the capabilities FERRY-SEC-005 reports, without
// the CAP_ prefix.
var dangerousCapabilities = []string{"ALL", "DAC_READ_SEARCH", "NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE"}

// isDangerousCapability reports whether capability (any case, with or
// without the CAP_ prefix) is one of dangerousCapabilities.
func isDangerousCapability(capability string) bool {
	name := strings.ToUpper(strings.TrimSpace(capability))
	return slices.Contains(dangerousCapabilities, strings.TrimPrefix(name, "CAP_"))
}

// checkCapabilities implements FERRY-SEC-005, one finding per container
// listing its dangerous capabilities as written.
func checkCapabilities(p *workloadPod) []string {
	var msgs []string
	for _, c := range p.containers {
		var found []string
		for _, item := range nestedSlice(c.fields, "securityContext", "capabilities", "add") {
			if capability, ok := item.(string); ok && isDangerousCapability(capability) {
				found = append(found, capability)
			}
		}
		if len(found) > 0 {
			msgs = append(msgs, c.msg("securityContext.capabilities.add includes %s", strings.Join(found, ", ")))
		}
	}
	return msgs
}

// podFlagCheck returns the check for a pod spec boolean that must not be
// true (FERRY-SEC-006 to 008).
func podFlagCheck(name string) func(p *workloadPod) []string {
	return func(p *workloadPod) []string {
		if v, _ := nestedBool(p.spec, name); v {
			return []string{fmt.Sprintf("%s.%s is true", p.path, name)}
		}
		return nil
	}
}

// checkHostPath implements FERRY-SEC-009, one finding per hostPath volume.
func checkHostPath(p *workloadPod) []string {
	var msgs []string
	for i, item := range nestedSlice(p.spec, "volumes") {
		volume, _ := item.(map[string]any)
		if nestedMap(volume, "hostPath") == nil {
			continue
		}
		msgs = append(msgs, fmt.Sprintf("volume %q mounts host path %q (%s.volumes[%d].hostPath)",
			nestedString(volume, "name"), nestedString(volume, "hostPath", "path"), p.path, i))
	}
	return msgs
}

// resourcesCheck returns the check for missing cpu or memory in
// resources.<kind> ("limits" for FERRY-SEC-010, "requests" for
// FERRY-SEC-011). A value set in the pod-level spec.resources counts for
// every container; ephemeral containers are skipped, since Kubernetes does
// not allow them resources.
func resourcesCheck(kind string) func(p *workloadPod) []string {
	return func(p *workloadPod) []string {
		var msgs []string
		for _, c := range p.containers {
			if c.ephemeral {
				continue
			}
			var missing []string
			for _, resource := range []string{"cpu", "memory"} {
				if !hasQuantity(c.fields, kind, resource) && !hasQuantity(p.spec, kind, resource) {
					missing = append(missing, "resources."+kind+"."+resource)
				}
			}
			switch len(missing) {
			case 1:
				msgs = append(msgs, c.msg("%s is not set", missing[0]))
			case 2:
				msgs = append(msgs, c.msg("%s and %s are not set", missing[0], missing[1]))
			}
		}
		return msgs
	}
}

// hasQuantity reports whether m's resources.<kind>.<resource> is set.
func hasQuantity(m map[string]any, kind, resource string) bool {
	v := nestedValue(m, "resources", kind, resource)
	return v != nil && v != ""
}

// imageReference splits an image reference into its tag ("" when it has
// none) and whether it is pinned by digest. A colon before the last slash
// belongs to the registry host ("registry:5000/app" has no tag).
func imageReference(image string) (tag string, digest bool) {
	if name, _, ok := strings.Cut(image, "@"); ok {
		return imageTagOf(name), true
	}
	return imageTagOf(image), false
}

// imageTagOf returns the tag of an image reference without digest.
func imageTagOf(name string) string {
	colon := strings.LastIndex(name, ":")
	if colon < 0 || colon < strings.LastIndex(name, "/") {
		return ""
	}
	return name[colon+1:]
}

// checkImage implements FERRY-SEC-012: an image pinned by digest passes
// whatever its tag.
func checkImage(p *workloadPod) []string {
	var msgs []string
	for _, c := range p.containers {
		image := strings.TrimSpace(nestedString(c.fields, "image"))
		if image == "" {
			continue
		}
		switch tag, digest := imageReference(image); {
		case digest: // pinned, whatever the tag
		case tag == "latest":
			msgs = append(msgs, c.msg("image %q uses the latest tag", image))
		case tag == "":
			msgs = append(msgs, c.msg("image %q has no tag nor digest, so it pulls latest", image))
		}
	}
	return msgs
}

// secretNameMarkers are the upper-case substrings that make an environment
// variable name look like it holds a secret.
var secretNameMarkers = []string{"PASSWORD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY", "CREDENTIAL"}

// looksSecret reports whether an environment variable name looks like it
// holds a secret.
func looksSecret(name string) bool {
	upper := strings.ToUpper(name)
	return slices.ContainsFunc(secretNameMarkers, func(marker string) bool { return strings.Contains(upper, marker) })
}

// checkEnvSecrets implements FERRY-SEC-013. Its messages name the variable,
// never its value.
func checkEnvSecrets(p *workloadPod) []string {
	var msgs []string
	for _, c := range p.containers {
		for i, item := range nestedSlice(c.fields, "env") {
			env, _ := item.(map[string]any)
			name := nestedString(env, "name")
			if value := nestedValue(env, "value"); looksSecret(name) && value != nil && value != "" {
				msgs = append(msgs, c.msg("env[%d] %q has a literal value instead of valueFrom.secretKeyRef", i, name))
			}
		}
	}
	return msgs
}

// checkAutomountToken implements FERRY-SEC-014: a missing field counts,
// since the token is mounted by default (the ServiceAccount's own setting
// is not visible here).
func checkAutomountToken(p *workloadPod) []string {
	switch v, set := nestedBool(p.spec, "automountServiceAccountToken"); {
	case !set:
		return []string{fmt.Sprintf("%s.automountServiceAccountToken is not set (it defaults to true)", p.path)}
	case v:
		return []string{fmt.Sprintf("%s.automountServiceAccountToken is true", p.path)}
	}
	return nil
}
