package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// TestProjWindows adds sync windows (invalid ones refused with a message
// naming the value), lists them as Active or Inactive now, toggles manual
// sync, updates and deletes one, with roles and an unmodelled window field
// left as they were.
func TestProjWindows(t *testing.T) {
	const p = "proj-windows"
	createRawProject(t, `{"metadata":{"name":"`+p+`"},"spec":{"roles":`+rolesOf(p)+`,
		"syncWindows":[{"kind":"allow","schedule":"* * * * *","duration":"1h","applications":["*"],"syncOverrun":true}]}}`)
	// Fires twelve hours from now, lasts an hour: inactive now.
	later := fmt.Sprintf("0 %d * * *", (time.Now().UTC().Hour()+12)%24)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kind", "maybe", "--schedule", "0 22 * * *", "--duration", "1h", "--applications", "*"}, "maybe"},
		{[]string{"--kind", "deny", "--schedule", "0 25 * * *", "--duration", "1h", "--applications", "*"}, "0 25 * * *"},
		{[]string{"--kind", "deny", "--schedule", "0 22 * * *", "--duration", "an hour", "--applications", "*"}, "an hour"},
		{[]string{"--kind", "deny", "--schedule", "0 22 * * *", "--duration", "1h", "--applications", "*", "--time-zone", "Mars/Olympus"}, "Mars/Olympus"},
		{[]string{"--kind", "deny", "--schedule", "0 22 * * *", "--duration", "1h"}, "selects nothing"},
		{[]string{"--kind", "allow", "--schedule", "* * * * *", "--duration", "1h", "--applications", "*"}, "already has this sync window (ID 0"},
	} {
		projErr(t, p, append([]string{"windows", "add", p}, tc.args...), "project "+p, tc.want)
	}

	for _, step := range []struct {
		args []string
		out  string
	}{
		{[]string{"windows", "add", p, "--kind", "deny", "--schedule", later, "--duration", "1h", "--applications", "web,api", "--namespaces", "prod-*",
			"--manual-sync", "--time-zone", "Europe/Berlin", "--use-and-operator", "--description", "nightly freeze"},
			"Sync window 1 (deny " + later + " 1h (Europe/Berlin) applications=web,api namespaces=prod-* andOperator manualSync) added to project " + p},
		{[]string{"windows", "add", p, "-k", "allow", "--schedule", later, "--duration", "30m", "--clusters", "prod-us-east"},
			"Sync window 2 (allow " + later + " 30m (UTC) clusters=prod-us-east) added to project " + p},
	} {
		if out := mustProj(t, step.args...); out != step.out+"\n" {
			t.Errorf("ferry proj %s:\n output %q\n want   %q", strings.Join(step.args, " "), out, step.out)
		}
	}
	checkSpec(t, p, map[string]string{
		"syncWindows": `[{"applications":["*"],"duration":"1h","kind":"allow","schedule":"* * * * *","syncOverrun":true},` +
			`{"andOperator":true,"applications":["web","api"],"description":"nightly freeze","duration":"1h","kind":"deny","manualSync":true,"namespaces":["prod-*"],"schedule":"` + later + `","timeZone":"Europe/Berlin"},` +
			`{"clusters":["prod-us-east"],"duration":"30m","kind":"allow","schedule":"` + later + `","timeZone":"UTC"}]`,
		"roles": rolesOf(p),
	})

	out := mustProj(t, "windows", "list", p)
	if got := strings.Join(strings.Fields(strings.SplitN(out, "\n", 2)[0]), " "); got != "ID STATUS KIND SCHEDULE DURATION APPLICATIONS NAMESPACES CLUSTERS MANUALSYNC TIMEZONE USEANDOPERATOR" {
		t.Errorf("windows list header = %q", got)
	}
	for id, want := range []string{
		"0 Active allow * * * * * 1h * - - Disabled UTC Disabled",
		"1 Inactive deny " + later + " 1h web,api prod-* - Enabled Europe/Berlin Enabled",
		"2 Inactive allow " + later + " 30m - - prod-us-east Disabled UTC Disabled",
	} {
		if row := tableRow(out, fmt.Sprint(id)); row != want {
			t.Errorf("windows list row %d = %q, want %q", id, row, want)
		}
	}
	if out := mustProj(t, "windows", "list", p, "-o", "json"); !strings.Contains(out, `"syncOverrun": true`) {
		t.Errorf("windows list -o json, want the windows as stored:\n%s", out)
	}

	for _, step := range []struct {
		args []string
		out  string
	}{
		{[]string{"windows", "enable-manual-sync", p, "0"}, "Manual sync enabled for sync window 0 of project " + p},
		{[]string{"windows", "enable-manual-sync", p, "0"}, "Manual sync already enabled for sync window 0 of project " + p},
		{[]string{"windows", "disable-manual-sync", p, "1"}, "Manual sync disabled for sync window 1 of project " + p},
		{[]string{"windows", "update", p, "2", "--duration", "2h", "--clusters", "prod-eu"},
			"Sync window 2 of project " + p + " updated: allow " + later + " 2h (UTC) clusters=prod-eu"},
		{[]string{"windows", "delete", p, "1"},
			"Sync window 1 (deny " + later + " 1h (Europe/Berlin) applications=web,api namespaces=prod-* andOperator) deleted from project " + p},
	} {
		if out := mustProj(t, step.args...); out != step.out+"\n" {
			t.Errorf("ferry proj %s:\n output %q\n want   %q", strings.Join(step.args, " "), out, step.out)
		}
	}
	checkSpec(t, p, map[string]string{
		"syncWindows": `[{"applications":["*"],"duration":"1h","kind":"allow","manualSync":true,"schedule":"* * * * *","syncOverrun":true},` +
			`{"clusters":["prod-eu"],"duration":"2h","kind":"allow","schedule":"` + later + `","timeZone":"UTC"}]`,
		"roles": rolesOf(p),
	})

	projErr(t, p, []string{"windows", "delete", p, "2"}, "project "+p+" has no sync window 2: its IDs are 0 to 1")
	projErr(t, p, []string{"windows", "enable-manual-sync", p, "first"}, `sync window ID "first"`)
	projErr(t, p, []string{"windows", "update", p, "1", "--duration", "forever"}, "project "+p, "forever")
	projErr(t, p, []string{"windows", "update", p, "1", "--clusters", ""}, "selects nothing")
	projErr(t, p, []string{"windows", "update", p, "1"}, "nothing to update")
	mustProj(t, "windows", "delete", p, "0")
	mustProj(t, "windows", "delete", p, "0")
	checkSpec(t, p, map[string]string{"syncWindows": "<absent>", "roles": rolesOf(p)})
	projErr(t, p, []string{"windows", "disable-manual-sync", p, "0"}, "project "+p+" has no sync window 0: it has none")
	if out := mustProj(t, "windows", "list", p); strings.Count(out, "\n") != 1 {
		t.Errorf("windows list of a project without windows, want the header alone:\n%s", out)
	}
}

// TestProjWindowsListInvalid lists a window written with kubectl that
// does not validate: Invalid, with the reason under the table.
func TestProjWindowsListInvalid(t *testing.T) {
	var b bytes.Buffer
	windows := v1alpha1.SyncWindows{{Kind: "deny", Schedule: "not a schedule", Duration: "1h", Applications: []string{"*"}}}
	if err := printWindows(&b, windows, time.Now()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if row := tableRow(out, "0"); !strings.HasPrefix(row, "0 Invalid deny not a schedule 1h") {
		t.Errorf("row of an invalid window = %q", row)
	}
	if !strings.Contains(out, "\nwindow 0: ") || !strings.Contains(out, "not a schedule") {
		t.Errorf("windows list of an invalid window, want why under the table:\n%s", out)
	}
}

// TestProjCreateRejectsInvalidWindow creates a project from a manifest
// whose sync window does not validate.
func TestProjCreateRejectsInvalidWindow(t *testing.T) {
	file := filepath.Join(t.TempDir(), "proj.yaml")
	manifest := strings.Replace(strings.Replace(projManifest, "name: proj-file", "name: proj-bad-window", 1), "duration: 8h", "duration: 8 hours", 1)
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	projErr(t, "", []string{"create", "-f", file}, "project proj-bad-window: spec.syncWindows[0]", "8 hours")
	if rawProjectOrNil(t, "proj-bad-window") != nil {
		cleanupProject(t, "proj-bad-window")
		t.Error("a manifest with an invalid window was created")
	}
}

// TestAppSyncRefusedByDenyWindow: `ferry app sync` refuses, as Argo CD's
// API server does, a sync a deny window without manualSync blocks now,
// naming the window and when it ends, and requests nothing; once the
// window allows manual syncs, the same command syncs.
func TestAppSyncRefusedByDenyWindow(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	commitGreeting(t, dir, "windowed")
	mustProj(t, "create", "cli-win", "-s", "*", "-d", "https://kubernetes.default.svc,*")
	t.Cleanup(func() { _, _ = ferryProj(t, "delete", "cli-win") })
	mustProj(t, "windows", "add", "cli-win", "--kind", "deny", "--schedule", "* * * * *", "--duration", "1h", "--applications", "*")
	out, err := ferry(t, "app", "create", "cli-win", "--project", "cli-win", "--repo", "file://"+dir, "--path", "apps/production/myapp",
		"--revision", "main", "--dest-namespace", "cli-win", "--sync-option", "CreateNamespace=true")
	if err != nil {
		t.Fatalf("ferry app create: %v\n%s", err, out)
	}
	cleanupApp(t, "cli-win")

	out, err = ferry(t, "app", "sync", "cli-win")
	if err == nil || !strings.Contains(out, `cannot sync cli-win: sync blocked by deny window "* * * * *"`) || !strings.Contains(out, "until") {
		t.Fatalf("ferry app sync through a deny window: err %v\n%s", err, out)
	}
	app := &v1alpha1.Application{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: "argocd", Name: "cli-win"}, app); err != nil {
		t.Fatal(err)
	}
	if app.Operation != nil {
		t.Errorf("a refused sync left an operation: %+v", app.Operation)
	}

	mustProj(t, "windows", "enable-manual-sync", "cli-win", "0")
	if out, err := ferry(t, "app", "sync", "cli-win"); err != nil {
		t.Fatalf("ferry app sync with manualSync: %v\n%s", err, out)
	}
}
