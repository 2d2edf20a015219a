package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Outcome is one notification's result: sent (Err nil) or not. A
// destination whose templates did not render is one Outcome without
// Template.
type Outcome struct {
	Destination Destination
	Template    string
	Err         error
}

// Deliver renders the templates for each destination (ev told for a
// trigger: Event.For), merges them into one notification as Argo CD does
// (a later template's non-empty values over an earlier's), sends it, and
// returns every outcome: the controller counts and logs them, `ferry
// notify test` prints them. A template with nothing for a destination's
// service (no commit state for GitHub) sends nothing and is no outcome.
// Errors carry no secret.
func (s *Sender) Deliver(ctx context.Context, c *Config, ev Event, templates []string, dests []Destination) []Outcome {
	var out []Outcome
	for _, d := range dests {
		if _, err := c.service(d.Service); err != nil {
			out = append(out, Outcome{Destination: d, Err: err})
			continue
		}
		notes, err := c.Render(ev, templates, d)
		if err != nil {
			out = append(out, Outcome{Destination: d, Err: fmt.Errorf("render %s for %s: %w", ev.Trigger, d.Service, err)})
			continue
		}
		if len(notes) == 0 {
			continue
		}
		n := merge(notes)
		err = s.Send(ctx, c, n) // its errors name service and template
		if errors.Is(err, ErrNothingToSend) {
			continue
		}
		out = append(out, Outcome{Destination: d, Template: n.Template, Err: err})
	}
	return out
}

// merge is notes as one notification: each template's fields over the
// previous ones', an empty string replacing nothing; Template names them
// all ("a,b").
func merge(notes []Notification) Notification {
	n := notes[0]
	if len(notes) == 1 {
		return n
	}
	n.Fields = map[string]any{}
	var names []string
	for _, m := range notes {
		mergeFields(n.Fields, m.Fields)
		names = append(names, m.Template)
	}
	n.Template = strings.Join(names, ",")
	n.Message, _ = n.Fields["message"].(string)
	return n
}

func mergeFields(dst, src map[string]any) {
	for k, v := range src {
		switch x := v.(type) {
		case string:
			if x != "" {
				dst[k] = x
			}
		case map[string]any:
			d, ok := dst[k].(map[string]any)
			if !ok {
				d = map[string]any{}
				dst[k] = d
			}
			mergeFields(d, x)
		default:
			dst[k] = v
		}
	}
}
