package notify

import (
	"context"
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

// Deliver renders ev for each destination and sends what rendered, one
// notification at a time, and returns every outcome: the controller counts
// and logs them, `ferry notify test` prints them. Errors carry no secret.
func (s *Sender) Deliver(ctx context.Context, c *Config, ev Event, dests []Destination) []Outcome {
	var out []Outcome
	for _, d := range dests {
		notes, err := c.Render(ev, d)
		if err != nil {
			out = append(out, Outcome{Destination: d, Err: fmt.Errorf("render %s for %s: %w", ev.Trigger, d.Service, err)})
			continue
		}
		for _, n := range notes {
			out = append(out, Outcome{Destination: d, Template: n.Template, Err: s.Send(ctx, c, n)}) // Send's errors name service and template
		}
	}
	return out
}
