package notify

import (
	"context"
	"errors"
	"fmt"
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
// trigger: Event.For) and sends what rendered, one notification at a time,
// and returns every outcome: the controller counts and logs them, `ferry
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
		for _, n := range notes {
			err := s.Send(ctx, c, n) // its errors name service and template
			if errors.Is(err, ErrNothingToSend) {
				continue
			}
			out = append(out, Outcome{Destination: d, Template: n.Template, Err: err})
		}
	}
	return out
}
