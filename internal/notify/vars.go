package notify

import (
	"errors"
	"maps"
	"net/url"
	"strings"
	"time"
)

// vars is what `when:` expressions and templates see, by Argo CD's names:
// app, context, serviceType and recipient (the destination's service name
// and recipient, as Argo CD sets them), and the function namespaces time,
// strings and repo. Ferry adds trigger, revision, repoURL and message (a
// built-in trigger's summary), and ferry.drift (this reconcile's drift, or
// nil) for its on-drift-detected.
func (c *Config) vars(ev Event, d Destination) map[string]any {
	ctx := map[string]string{}
	maps.Copy(ctx, c.context)
	maps.Copy(ctx, ev.Context)
	var drift any
	if ev.Drift != nil {
		drift = map[string]any{
			"key":      ev.Drift.Key,
			"manager":  strings.Join(ev.Drift.Managers, ", "),
			"managers": ev.Drift.Managers,
			"objects":  ev.Drift.Objects,
		}
	}
	return map[string]any{
		"app":         ev.App,
		"context":     ctx,
		"serviceType": d.Service,
		"recipient":   d.Recipient,
		"trigger":     ev.Trigger,
		"revision":    ev.Revision,
		"repoURL":     ev.RepoURL,
		"message":     ev.Message,
		"ferry":       map[string]any{"drift": drift},
		"time":        timeExprs,
		"strings":     stringsExprs,
		"repo":        repoExprs(ev),
	}
}

// timeExprs is Argo CD's time namespace: time.Now(), time.Parse(RFC 3339)
// (which panics on bad input, making the condition false, as there), the
// durations and the layouts.
var timeExprs = map[string]any{
	"Now":   time.Now,
	"Parse": parseTime,

	"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond,
	"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour,

	"Layout": time.Layout, "ANSIC": time.ANSIC, "UnixDate": time.UnixDate, "RubyDate": time.RubyDate,
	"RFC822": time.RFC822, "RFC822Z": time.RFC822Z, "RFC850": time.RFC850, "RFC1123": time.RFC1123,
	"RFC1123Z": time.RFC1123Z, "RFC3339": time.RFC3339, "RFC3339Nano": time.RFC3339Nano,
	"Kitchen": time.Kitchen, "Stamp": time.Stamp, "StampMilli": time.StampMilli,
	"StampMicro": time.StampMicro, "StampNano": time.StampNano,
}

func parseTime(timestamp string) time.Time {
	t, err := time.Parse(time.RFC3339, timestamp)
	if err != nil {
		panic(err)
	}
	return t
}

// stringsExprs is Argo CD's strings namespace.
var stringsExprs = map[string]any{
	"ReplaceAll": strings.ReplaceAll,
	"ToUpper":    strings.ToUpper,
	"ToLower":    strings.ToLower,
}

// repoExprs is Argo CD's repo namespace. GetAppDetails (Helm parameters of
// the rendered source) is not offered: Ferry's renderer keeps none.
func repoExprs(ev Event) map[string]any {
	return map[string]any{
		"RepoURLToHTTPS":    repoURLToHTTPS,
		"FullNameByRepoURL": fullNameByRepoURL,
		"QueryEscape":       url.QueryEscape,
		"GetCommitMetadata": func(sha string) any {
			if ev.Commits == nil {
				panic(errors.New("repo.GetCommitMetadata: no repository access here"))
			}
			m, err := ev.Commits(ev.RepoURL, sha)
			if err != nil {
				panic(err)
			}
			return m
		},
	}
}

// repoURLToHTTPS is the repository's https URL without credentials
// (git@host:o/r.git → https://host/o/r.git).
func repoURLToHTTPS(raw string) string {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		if m := scpURL.FindStringSubmatch(raw); m != nil {
			host := strings.TrimSuffix(raw[:len(raw)-len(m[1])], ":")
			if i := strings.LastIndexByte(host, '@'); i >= 0 {
				host = host[i+1:]
			}
			return "https://" + host + "/" + m[1]
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Scheme, u.User = "https", nil
	return u.String()
}

// fullNameByRepoURL is "owner/repo" of a repository URL.
func fullNameByRepoURL(raw string) string {
	p, err := repoPath(raw)
	if err != nil {
		panic(err)
	}
	parts := strings.Split(p, "/")
	return strings.Join(parts[:2], "/")
}
