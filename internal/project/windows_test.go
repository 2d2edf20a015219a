package project

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// webApp is an Application "web" deploying to cluster prod (server
// https://prod.example.com), namespace team-a.
func webApp() *v1alpha1.Application {
	return &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ferry"},
		Spec: v1alpha1.ApplicationSpec{
			Destination: v1alpha1.ApplicationDestination{Server: "https://prod.example.com", Name: "prod", Namespace: "team-a"},
		},
	}
}

func TestMatchingWindows(t *testing.T) {
	w := func(apps, clusters, namespaces []string, and bool) *v1alpha1.SyncWindow {
		return &v1alpha1.SyncWindow{Kind: "deny", Schedule: "* * * * *", Duration: "1h",
			Applications: apps, Clusters: clusters, Namespaces: namespaces, UseAndOperator: and}
	}
	s := func(v ...string) []string { return v }
	tests := []struct {
		name   string
		window *v1alpha1.SyncWindow
		want   bool
	}{
		{"no selectors", w(nil, nil, nil, false), false},
		{"no selectors, and", w(nil, nil, nil, true), false},
		{"application", w(s("web"), nil, nil, false), true},
		{"other application", w(s("api"), nil, nil, false), false},
		{"application glob", w(s("w*"), nil, nil, false), true},
		{"application star", w(s("*"), nil, nil, false), true},
		{"second application pattern", w(s("api", "web"), nil, nil, false), true},
		{"cluster by name", w(nil, s("prod"), nil, false), true},
		{"cluster by server", w(nil, s("https://prod.example.com"), nil, false), true},
		{"cluster glob crosses slashes", w(nil, s("https://*"), nil, false), true},
		{"other cluster", w(nil, s("dev"), nil, false), false},
		{"namespace", w(nil, nil, s("team-a"), false), true},
		{"namespace glob", w(nil, nil, s("team-*"), false), true},
		{"other namespace", w(nil, nil, s("other"), false), false},
		{"or: one selector of two matches", w(s("api"), nil, s("team-a"), false), true},
		{"or: none of three match", w(s("api"), s("dev"), s("other"), false), false},
		{"and: all match", w(s("web"), s("prod"), s("team-*"), true), true},
		{"and: one of two fails", w(s("api"), nil, s("team-a"), true), false},
		{"and: cluster fails", w(s("web"), s("dev"), nil, true), false},
		{"and: single selector", w(nil, nil, s("team-a"), true), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := w(s("nothing-matches"), nil, nil, false)
			p := proj(v1alpha1.AppProjectSpec{SyncWindows: v1alpha1.SyncWindows{other, nil, tt.window}})
			got := MatchingWindows(p, webApp())
			var want []*v1alpha1.SyncWindow
			if tt.want {
				want = []*v1alpha1.SyncWindow{tt.window}
			}
			if !reflect.DeepEqual(got, want) || (len(got) == 1 && got[0] != tt.window) {
				t.Errorf("MatchingWindows = %v, want %v", got, want)
			}
		})
	}
}

func TestWindowActive(t *testing.T) {
	tests := []struct {
		name      string
		schedule  string
		duration  string
		zone      string
		now       string
		want      bool
		wantStart string
	}{
		{"at the start", "0 12 * * *", "1h", "", "2026-12-05T12:00:00Z", true, "2026-12-05T12:00:00Z"},
		{"just before the start", "0 12 * * *", "1h", "", "2026-12-05T11:59:59.999Z", false, ""},
		{"inside", "0 12 * * *", "1h", "", "2026-12-05T12:30:00Z", true, "2026-12-05T12:00:00Z"},
		{"just before the end", "0 12 * * *", "1h", "", "2026-12-05T12:59:59.999999999Z", true, "2026-12-05T12:00:00Z"},
		{"at the end", "0 12 * * *", "1h", "", "2026-12-05T13:00:00Z", false, ""},
		{"after", "0 12 * * *", "1h", "", "2026-12-05T18:00:00Z", false, ""},
		{"hourly, at the next start", "0 * * * *", "1h", "", "2026-12-05T13:00:00Z", true, "2026-12-05T13:00:00Z"},
		{"overlapping openings: latest start", "0 * * * *", "2h", "", "2026-12-05T13:30:00Z", true, "2026-12-05T13:00:00Z"},
		{"every quarter for an hour", "*/15 * * * *", "1h", "", "2026-12-05T13:50:00Z", true, "2026-12-05T13:45:00Z"},
		{"every minute for a day", "* * * * *", "24h", "", "2026-12-05T13:50:30Z", true, "2026-12-05T13:50:00Z"},
		{"minute-long window", "30 13 * * *", "1m", "", "2026-12-05T13:30:59Z", true, "2026-12-05T13:30:00Z"},
		{"crosses midnight", "0 22 * * *", "4h", "", "2026-12-06T01:00:00Z", true, "2026-12-05T22:00:00Z"},
		{"weekdays only, on a saturday", "0 12 * * 1-5", "1h", "", "2026-12-05T12:30:00Z", false, ""},
		{"weekdays only, on a friday", "0 12 * * 1-5", "1h", "", "2026-12-04T12:30:00Z", true, "2026-12-04T12:00:00Z"},
		{"never fires", "0 0 31 2 *", "24h", "", "2026-03-03T00:00:00Z", false, ""},

		// 09:00 in Berlin is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
		{"berlin, winter, 08:30 UTC", "0 9 * * *", "1h", "Europe/Berlin", "2026-01-15T08:30:00Z", true, "2026-01-15T08:00:00Z"},
		{"berlin, summer, 08:30 UTC", "0 9 * * *", "1h", "Europe/Berlin", "2026-07-15T08:30:00Z", false, ""},
		{"berlin, summer, 07:30 UTC", "0 9 * * *", "1h", "Europe/Berlin", "2026-07-15T07:30:00Z", true, "2026-07-15T07:00:00Z"},
		{"berlin, winter, UTC would say active", "0 9 * * *", "1h", "Europe/Berlin", "2026-01-15T09:30:00Z", false, ""},
		// The clocks go forward at 02:00 CET on 2026-03-29: the window opened
		// at 01:00 CET (00:00 UTC) and is open for three hours, until 03:00
		// UTC, although it is 04:30 CEST. A fixed offset taken now (+2h)
		// would put the opening at 23:00 UTC and miss it.
		{"berlin, across the DST change", "0 1 * * *", "3h", "Europe/Berlin", "2026-03-29T02:30:00Z", true, "2026-03-29T00:00:00Z"},
		{"new york", "0 9 * * *", "1h", "America/New_York", "2026-12-05T14:30:00Z", true, "2026-12-05T14:00:00Z"},
		{"now in another zone", "0 12 * * *", "1h", "", "2026-12-05T13:30:00+01:00", true, "2026-12-05T12:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &v1alpha1.SyncWindow{Kind: "allow", Schedule: tt.schedule, Duration: tt.duration, TimeZone: tt.zone}
			now := mustTime(t, tt.now)
			got, start, err := WindowActive(w, now)
			if err != nil {
				t.Fatal(err)
			}
			var wantStart time.Time
			if tt.wantStart != "" {
				wantStart = mustTime(t, tt.wantStart)
			}
			if got != tt.want || !start.Equal(wantStart) {
				t.Errorf("WindowActive(%q %s %s, %s) = %v, %s; want %v, %s", tt.schedule, tt.duration, tt.zone, tt.now, got, start, tt.want, wantStart)
			}
			if got && start.Location() != now.Location() {
				t.Errorf("start in %s, want now's location %s", start.Location(), now.Location())
			}
		})
	}
}

func TestWindowActiveInvalid(t *testing.T) {
	w := &v1alpha1.SyncWindow{Kind: "allow", Schedule: "0 9 * *", Duration: "1h"}
	if _, _, err := WindowActive(w, time.Now()); err == nil || !strings.HasPrefix(err.Error(), `schedule "0 9 * *": `) {
		t.Errorf("WindowActive(bad schedule) error = %v", err)
	}
}

func TestValidateWindow(t *testing.T) {
	valid := v1alpha1.SyncWindow{Kind: "allow", Schedule: "0 9 * * 1-5", Duration: "90m", TimeZone: "Europe/Berlin"}
	tests := []struct {
		name   string
		edit   func(w *v1alpha1.SyncWindow)
		prefix string // "" when valid; else the exact start of the message
		exact  bool   // the prefix is the whole message
	}{
		{"valid", func(*v1alpha1.SyncWindow) {}, "", false},
		{"deny", func(w *v1alpha1.SyncWindow) { w.Kind = "deny" }, "", false},
		{"utc", func(w *v1alpha1.SyncWindow) { w.TimeZone = "" }, "", false},
		{"explicit UTC", func(w *v1alpha1.SyncWindow) { w.TimeZone = "UTC" }, "", false},
		{"ranges and steps", func(w *v1alpha1.SyncWindow) { w.Schedule = "*/5 8-18 1,15 JAN-JUN MON-FRI" }, "", false},
		{"kind empty", func(w *v1alpha1.SyncWindow) { w.Kind = "" }, `kind "": must be "allow" or "deny"`, true},
		{"kind capitalised", func(w *v1alpha1.SyncWindow) { w.Kind = "Allow" }, `kind "Allow": must be "allow" or "deny"`, true},
		{"schedule empty", func(w *v1alpha1.SyncWindow) { w.Schedule = "" }, `schedule "": `, false},
		{"schedule four fields", func(w *v1alpha1.SyncWindow) { w.Schedule = "0 9 * *" }, `schedule "0 9 * *": `, false},
		{"schedule six fields", func(w *v1alpha1.SyncWindow) { w.Schedule = "0 0 9 * * *" }, `schedule "0 0 9 * * *": `, false},
		{"schedule out of range", func(w *v1alpha1.SyncWindow) { w.Schedule = "0 25 * * *" }, `schedule "0 25 * * *": `, false},
		{"schedule descriptor", func(w *v1alpha1.SyncWindow) { w.Schedule = "@daily" }, `schedule "@daily": `, false},
		{"duration empty", func(w *v1alpha1.SyncWindow) { w.Duration = "" }, `duration "": `, false},
		{"duration without unit", func(w *v1alpha1.SyncWindow) { w.Duration = "60" }, `duration "60": `, false},
		{"duration days", func(w *v1alpha1.SyncWindow) { w.Duration = "1d" }, `duration "1d": `, false},
		{"duration zero", func(w *v1alpha1.SyncWindow) { w.Duration = "0s" }, `duration "0s": must be positive`, true},
		{"duration negative", func(w *v1alpha1.SyncWindow) { w.Duration = "-1h" }, `duration "-1h": must be positive`, true},
		{"time zone unknown", func(w *v1alpha1.SyncWindow) { w.TimeZone = "Mars/Olympus" }, `timeZone "Mars/Olympus": `, false},
		{"time zone offset", func(w *v1alpha1.SyncWindow) { w.TimeZone = "+02:00" }, `timeZone "+02:00": `, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := valid
			tt.edit(&w)
			err := ValidateWindow(&w)
			switch {
			case tt.prefix == "":
				if err != nil {
					t.Errorf("ValidateWindow(%+v) = %v, want nil", w, err)
				}
			case err == nil:
				t.Errorf("ValidateWindow(%+v) = nil, want %s...", w, tt.prefix)
			case tt.exact && err.Error() != tt.prefix:
				t.Errorf("ValidateWindow error = %q, want %q", err, tt.prefix)
			case !tt.exact && (!strings.HasPrefix(err.Error(), tt.prefix) || len(err.Error()) == len(tt.prefix)):
				t.Errorf("ValidateWindow error = %q, want %q and a reason", err, tt.prefix)
			}
		})
	}
}

func TestSyncWindowsAllow(t *testing.T) {
	sel := []string{"*"}
	win := func(kind, schedule, duration string, manual bool) *v1alpha1.SyncWindow {
		return &v1alpha1.SyncWindow{Kind: kind, Schedule: schedule, Duration: duration, ManualSync: manual, Applications: sel}
	}
	// At 2026-12-05T12:30Z:
	var (
		denyHourly   = win("deny", "0 * * * *", "1h", false)   // open, ends 13:00
		denyLong     = win("deny", "0 12 * * *", "3h", true)   // open, ends 15:00, manualSync
		denyNight    = win("deny", "0 22 * * *", "2h", false)  // closed
		allowNoon    = win("allow", "0 12 * * *", "1h", false) // open
		allowMorning = win("allow", "0 9 * * *", "1h", false)  // closed, opens tomorrow 09:00
		allowEvening = win("allow", "0 18 * * *", "1h", true)  // closed, opens 18:00, manualSync
		denyOther    = &v1alpha1.SyncWindow{Kind: "deny", Schedule: "0 * * * *", Duration: "1h", Applications: []string{"api"}}
		denyBerlin   = &v1alpha1.SyncWindow{Kind: "deny", Schedule: "0 13 * * *", Duration: "1h", TimeZone: "Europe/Berlin",
			Namespaces: []string{"team-a"}, Description: "release freeze"}
	)
	const now = "2026-12-05T12:30:00Z"
	tests := []struct {
		name     string
		windows  v1alpha1.SyncWindows
		manual   bool
		now      string
		allowed  bool
		blocking []*v1alpha1.SyncWindow
		until    string
		message  string
	}{
		{"no windows", nil, false, now, true, nil, "", ""},
		{"no matching window", v1alpha1.SyncWindows{denyOther}, false, now, true, nil, "", ""},
		{"open deny", v1alpha1.SyncWindows{denyHourly}, false, now, false, []*v1alpha1.SyncWindow{denyHourly}, "2026-12-05T13:00:00Z",
			`sync blocked by deny window "0 * * * *" for 1h until 2026-12-05T13:00:00Z`},
		{"open deny, manual without manualSync", v1alpha1.SyncWindows{denyHourly}, true, now, false, []*v1alpha1.SyncWindow{denyHourly}, "2026-12-05T13:00:00Z",
			`sync blocked by deny window "0 * * * *" for 1h until 2026-12-05T13:00:00Z`},
		{"open deny with manualSync, manual", v1alpha1.SyncWindows{denyLong}, true, now, true, nil, "", ""},
		{"open deny with manualSync, automatic", v1alpha1.SyncWindows{denyLong}, false, now, false, []*v1alpha1.SyncWindow{denyLong}, "2026-12-05T15:00:00Z",
			`sync blocked by deny window "0 12 * * *" for 3h until 2026-12-05T15:00:00Z`},
		{"two open denies, automatic: the latest end", v1alpha1.SyncWindows{denyHourly, denyLong}, false, now, false,
			[]*v1alpha1.SyncWindow{denyHourly, denyLong}, "2026-12-05T15:00:00Z",
			`sync blocked by deny windows "0 * * * *" for 1h, "0 12 * * *" for 3h until 2026-12-05T15:00:00Z`},
		{"two open denies, manual: only the one without manualSync blocks", v1alpha1.SyncWindows{denyLong, denyHourly}, true, now, false,
			[]*v1alpha1.SyncWindow{denyHourly}, "2026-12-05T13:00:00Z",
			`sync blocked by deny window "0 * * * *" for 1h until 2026-12-05T13:00:00Z`},
		{"open deny beats open allow", v1alpha1.SyncWindows{allowNoon, denyHourly}, false, now, false, []*v1alpha1.SyncWindow{denyHourly}, "2026-12-05T13:00:00Z",
			`sync blocked by deny window "0 * * * *" for 1h until 2026-12-05T13:00:00Z`},
		{"open allow", v1alpha1.SyncWindows{allowNoon}, false, now, true, nil, "", ""},
		{"open allow with closed allows", v1alpha1.SyncWindows{allowMorning, allowNoon, allowEvening}, false, now, true, nil, "", ""},
		{"closed deny", v1alpha1.SyncWindows{denyNight}, false, now, true, nil, "", ""},
		{"closed allow", v1alpha1.SyncWindows{allowMorning}, false, now, false, []*v1alpha1.SyncWindow{allowMorning}, "2026-12-06T09:00:00Z",
			`sync blocked outside allow window "0 9 * * *" for 1h until 2026-12-06T09:00:00Z`},
		{"closed allow, manual without manualSync", v1alpha1.SyncWindows{allowMorning}, true, now, false, []*v1alpha1.SyncWindow{allowMorning}, "2026-12-06T09:00:00Z",
			`sync blocked outside allow window "0 9 * * *" for 1h until 2026-12-06T09:00:00Z`},
		{"closed allow with manualSync, manual", v1alpha1.SyncWindows{allowEvening}, true, now, true, nil, "", ""},
		{"closed allow with manualSync, automatic", v1alpha1.SyncWindows{allowEvening}, false, now, false, []*v1alpha1.SyncWindow{allowEvening}, "2026-12-05T18:00:00Z",
			`sync blocked outside allow window "0 18 * * *" for 1h until 2026-12-05T18:00:00Z`},
		{"closed allows: the earliest opening", v1alpha1.SyncWindows{allowMorning, allowEvening}, false, now, false,
			[]*v1alpha1.SyncWindow{allowMorning, allowEvening}, "2026-12-05T18:00:00Z",
			`sync blocked outside allow windows "0 9 * * *" for 1h, "0 18 * * *" for 1h until 2026-12-05T18:00:00Z`},
		{"closed allows, manual: one lacks manualSync", v1alpha1.SyncWindows{allowMorning, allowEvening}, true, now, false,
			[]*v1alpha1.SyncWindow{allowMorning}, "2026-12-05T18:00:00Z",
			`sync blocked outside allow window "0 9 * * *" for 1h until 2026-12-05T18:00:00Z`},
		{"closed deny and closed allow", v1alpha1.SyncWindows{denyNight, allowMorning}, false, now, false, []*v1alpha1.SyncWindow{allowMorning}, "2026-12-06T09:00:00Z",
			`sync blocked outside allow window "0 9 * * *" for 1h until 2026-12-06T09:00:00Z`},
		{"deny of another application ignored", v1alpha1.SyncWindows{denyOther, allowNoon}, false, now, true, nil, "", ""},
		{"zone and description in the message", v1alpha1.SyncWindows{denyBerlin}, false, now, false, []*v1alpha1.SyncWindow{denyBerlin}, "2026-12-05T13:00:00Z",
			`sync blocked by deny window "0 13 * * *" in Europe/Berlin for 1h (release freeze) until 2026-12-05T13:00:00Z`},
		{"deny at its end", v1alpha1.SyncWindows{denyLong}, false, "2026-12-05T15:00:00Z", true, nil, "", ""},
		{"deny at its start", v1alpha1.SyncWindows{denyLong}, false, "2026-12-05T12:00:00Z", false, []*v1alpha1.SyncWindow{denyLong}, "2026-12-05T15:00:00Z",
			`sync blocked by deny window "0 12 * * *" for 3h until 2026-12-05T15:00:00Z`},
		{"allow at its end", v1alpha1.SyncWindows{allowNoon}, false, "2026-12-05T13:00:00Z", false, []*v1alpha1.SyncWindow{allowNoon}, "2026-12-06T12:00:00Z",
			`sync blocked outside allow window "0 12 * * *" for 1h until 2026-12-06T12:00:00Z`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proj(v1alpha1.AppProjectSpec{SyncWindows: tt.windows})
			got, err := SyncWindowsAllow(p, webApp(), tt.manual, mustTime(t, tt.now))
			if err != nil {
				t.Fatal(err)
			}
			var until time.Time
			if tt.until != "" {
				until = mustTime(t, tt.until)
			}
			if got.Allowed != tt.allowed || !got.Until.Equal(until) || got.Message != tt.message {
				t.Errorf("SyncWindowsAllow = {Allowed: %v, Until: %s, Message: %q}\nwant {Allowed: %v, Until: %s, Message: %q}",
					got.Allowed, got.Until, got.Message, tt.allowed, until, tt.message)
			}
			if !samePointers(got.Blocking, tt.blocking) {
				t.Errorf("Blocking = %v, want %v", got.Blocking, tt.blocking)
			}
		})
	}
}

func TestSyncWindowsAllowInvalid(t *testing.T) {
	bad := &v1alpha1.SyncWindow{Kind: "deny", Schedule: "0 * * * *", Duration: "1x", Applications: []string{"web"}}
	badOther := &v1alpha1.SyncWindow{Kind: "deny", Schedule: "bad", Duration: "1h", Applications: []string{"api"}}
	badKind := &v1alpha1.SyncWindow{Kind: "Deny", Schedule: "0 * * * *", Duration: "1h", Applications: []string{"web"}}
	now := mustTime(t, "2026-12-05T12:30:00Z")

	p := proj(v1alpha1.AppProjectSpec{SyncWindows: v1alpha1.SyncWindows{badOther, bad}})
	_, err := SyncWindowsAllow(p, webApp(), false, now)
	if want := `project "team-a": syncWindows[1]: duration "1x": `; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("SyncWindowsAllow(bad duration) error = %v, want %s...", err, want)
	}

	p = proj(v1alpha1.AppProjectSpec{SyncWindows: v1alpha1.SyncWindows{badKind}})
	_, err = SyncWindowsAllow(p, webApp(), false, now)
	if want := `project "team-a": syncWindows[0]: kind "Deny": must be "allow" or "deny"`; err == nil || err.Error() != want {
		t.Errorf("SyncWindowsAllow(bad kind) error = %v, want %s", err, want)
	}

	// An invalid window that does not apply to the application is not its concern.
	p = proj(v1alpha1.AppProjectSpec{SyncWindows: v1alpha1.SyncWindows{badOther}})
	if d, err := SyncWindowsAllow(p, webApp(), false, now); err != nil || !d.Allowed {
		t.Errorf("SyncWindowsAllow(invalid, not matching) = %+v, %v; want allowed", d, err)
	}
}

// samePointers reports whether got and want hold the same windows, in order.
func samePointers(got, want []*v1alpha1.SyncWindow) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
