package project

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// The kinds of sync window.
const (
	windowAllow = "allow"
	windowDeny  = "deny"
)

// cronParser reads a window's five-field schedule, as Argo CD does.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// schedule is a validated window: its cron schedule, duration and zone.
type schedule struct {
	cron     cron.Schedule
	duration time.Duration
	loc      *time.Location
}

// ValidateWindow checks a sync window: kind "allow" or "deny", a
// five-field cron schedule, a positive Go duration and a loadable IANA time
// zone ("" is UTC). The error names the field and its value.
func ValidateWindow(w *v1alpha1.SyncWindow) error {
	if w.Kind != windowAllow && w.Kind != windowDeny {
		return fmt.Errorf("kind %q: must be %q or %q", w.Kind, windowAllow, windowDeny)
	}
	_, err := parseWindow(w)
	return err
}

// parseWindow reads a window's schedule, duration and time zone.
func parseWindow(w *v1alpha1.SyncWindow) (schedule, error) {
	s, err := cronParser.Parse(w.Schedule)
	if err != nil {
		return schedule{}, fmt.Errorf("schedule %q: %w", w.Schedule, err)
	}
	d, err := time.ParseDuration(w.Duration)
	if err != nil {
		return schedule{}, fmt.Errorf("duration %q: %w", w.Duration, err)
	}
	if d <= 0 {
		return schedule{}, fmt.Errorf("duration %q: must be positive", w.Duration)
	}
	loc := time.UTC
	if w.TimeZone != "" {
		if loc, err = time.LoadLocation(w.TimeZone); err != nil {
			return schedule{}, fmt.Errorf("timeZone %q: %w", w.TimeZone, err)
		}
	}
	return schedule{cron: s, duration: d, loc: loc}, nil
}

// next is the first time the schedule fires strictly after t, reading the
// schedule in the window's zone.
//
// Argo CD shifts the time by the zone's offset taken at the current
// instant, which is wrong for a schedule whose window crosses a daylight
// saving change (a "0 9 * * *" window checked in March would open an hour
// off until the next day's offset). Evaluating the schedule in the real
// location gives each firing its own offset.
func (s schedule) next(t time.Time) time.Time {
	return s.cron.Next(t.In(s.loc)).In(t.Location())
}

// lastStart is the latest firing in (now-duration, now], if any: the start
// of the window's current opening.
func (s schedule) lastStart(now time.Time) (time.Time, bool) {
	first := s.next(now.Add(-s.duration))
	if first.IsZero() || first.After(now) { // zero: no firing within cron's search horizon
		return time.Time{}, false
	}
	// Overlapping openings (an hourly window lasting two hours) leave more
	// than one firing in the interval; find the latest without stepping
	// through them all. Next(now-x) is at or before now exactly when x
	// exceeds now minus the latest firing, so the smallest such x (in
	// nanoseconds, at most the duration) gives the latest firing.
	x := sort.Search(int(s.duration), func(i int) bool {
		n := s.next(now.Add(-time.Duration(i + 1)))
		return !n.IsZero() && !n.After(now)
	})
	return s.next(now.Add(-time.Duration(x + 1))), true
}

// WindowActive reports whether the window is open at now: whether its
// latest start at or before now, with the schedule read in the window's
// time zone, is less than its duration ago (start <= now < start+duration).
// start is that latest start when active, the zero time otherwise. The
// error is an invalid schedule, duration or time zone; the kind is not
// looked at.
func WindowActive(w *v1alpha1.SyncWindow, now time.Time) (active bool, start time.Time, err error) {
	s, err := parseWindow(w)
	if err != nil {
		return false, time.Time{}, err
	}
	start, active = s.lastStart(now)
	return active, start, nil
}

// MatchingWindows returns the project's sync windows that apply to app, as
// Argo CD's SyncWindows.Matches: a window selects applications by name,
// clusters by the destination's server or name, and namespaces by the
// destination namespace (all globs). It applies when any selector it has
// matches, or, with andOperator, when all of them do; a window without
// selectors applies to nothing.
func MatchingWindows(p *v1alpha1.AppProject, app *v1alpha1.Application) []*v1alpha1.SyncWindow {
	var out []*v1alpha1.SyncWindow
	for _, w := range p.Spec.SyncWindows {
		if w != nil && windowMatches(w, app) {
			out = append(out, w)
		}
	}
	return out
}

// windowMatches reports whether the window applies to app.
func windowMatches(w *v1alpha1.SyncWindow, app *v1alpha1.Application) bool {
	dst := app.Spec.Destination
	type selector struct {
		patterns []string
		match    func(pattern string) bool
	}
	selectors := []selector{
		{w.Applications, func(p string) bool { return match(p, app.Name) }},
		{w.Clusters, func(p string) bool { return match(p, dst.Server) || match(p, dst.Name) }},
		{w.Namespaces, func(p string) bool { return match(p, dst.Namespace) }},
	}
	configured, matched := 0, 0
	for _, s := range selectors {
		if len(s.patterns) == 0 {
			continue
		}
		configured++
		if slices.ContainsFunc(s.patterns, s.match) {
			matched++
		}
	}
	if w.UseAndOperator {
		return configured > 0 && matched == configured
	}
	return matched > 0
}

// WindowDecision is whether the project's sync windows let an Application
// sync now.
type WindowDecision struct {
	// Allowed says whether the sync may run.
	Allowed bool
	// Blocking are the windows that block, when !Allowed.
	Blocking []*v1alpha1.SyncWindow
	// Until is when the block ends at the earliest known time; zero if
	// unknown or allowed.
	Until time.Time
	// Message says why the sync is blocked and until when; "" when allowed.
	Message string
}

// openWindow is a matching window with its schedule and, when open, the
// start of its current opening.
type openWindow struct {
	w      *v1alpha1.SyncWindow
	s      schedule
	active bool
	start  time.Time
}

// SyncWindowsAllow decides whether app may sync at now under the project's
// sync windows (Argo CD's CanSync, without sync overrun). Only the windows
// matching app count:
//
//   - an open deny window blocks, unless the sync is manual and every open
//     deny window has manualSync;
//   - otherwise an open allow window allows;
//   - otherwise allow windows that are all closed block, unless the sync is
//     manual and every one of them has manualSync;
//   - otherwise (no windows) the sync is allowed.
//
// The error is an invalid matching window, named by its index in the
// project's syncWindows.
func SyncWindowsAllow(p *v1alpha1.AppProject, app *v1alpha1.Application, manual bool, now time.Time) (WindowDecision, error) {
	var deny, allow []openWindow
	for i, w := range p.Spec.SyncWindows {
		if w == nil || !windowMatches(w, app) {
			continue
		}
		if err := ValidateWindow(w); err != nil {
			return WindowDecision{}, fmt.Errorf("project %q: syncWindows[%d]: %w", p.Name, i, err)
		}
		s, _ := parseWindow(w)
		ow := openWindow{w: w, s: s}
		ow.start, ow.active = s.lastStart(now)
		if w.Kind == windowDeny {
			deny = append(deny, ow)
		} else {
			allow = append(allow, ow)
		}
	}

	activeDeny := filter(deny, func(o openWindow) bool { return o.active })
	if len(activeDeny) > 0 {
		blocking := activeDeny
		if manual {
			blocking = filter(activeDeny, func(o openWindow) bool { return !o.w.ManualSync })
		}
		if len(blocking) == 0 {
			return WindowDecision{Allowed: true}, nil
		}
		var until time.Time
		for _, o := range blocking {
			if end := o.start.Add(o.s.duration); end.After(until) {
				until = end
			}
		}
		return blocked("sync blocked by", blocking, until), nil
	}
	if slices.ContainsFunc(allow, func(o openWindow) bool { return o.active }) || len(allow) == 0 {
		return WindowDecision{Allowed: true}, nil
	}
	blocking := allow
	if manual {
		blocking = filter(allow, func(o openWindow) bool { return !o.w.ManualSync })
	}
	if len(blocking) == 0 {
		return WindowDecision{Allowed: true}, nil
	}
	// Any allow window opening ends the block, manualSync or not.
	var until time.Time
	for _, o := range allow {
		next := o.s.next(now)
		if next.IsZero() { // never fires again within cron's search horizon
			continue
		}
		if until.IsZero() || next.Before(until) {
			until = next
		}
	}
	return blocked("sync blocked outside", blocking, until), nil
}

// blocked is the decision of windows that block until a time.
func blocked(prefix string, windows []openWindow, until time.Time) WindowDecision {
	d := WindowDecision{Until: until}
	descs := make([]string, 0, len(windows))
	for _, o := range windows {
		d.Blocking = append(d.Blocking, o.w)
		descs = append(descs, describeWindow(o.w))
	}
	kind := windows[0].w.Kind + " window"
	if len(windows) > 1 {
		kind += "s"
	}
	d.Message = fmt.Sprintf("%s %s %s until %s", prefix, kind, strings.Join(descs, ", "), until.UTC().Format(time.RFC3339))
	return d
}

// describeWindow spells a window for a message:
// `"0 9 * * *" in Europe/Berlin for 1h (release freeze)`.
func describeWindow(w *v1alpha1.SyncWindow) string {
	s := fmt.Sprintf("%q", w.Schedule)
	if w.TimeZone != "" {
		s += " in " + w.TimeZone
	}
	s += " for " + w.Duration
	if w.Description != "" {
		s += " (" + w.Description + ")"
	}
	return s
}

// filter returns the windows keep accepts.
func filter(ws []openWindow, keep func(openWindow) bool) []openWindow {
	var out []openWindow
	for _, o := range ws {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out
}
