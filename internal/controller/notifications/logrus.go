package notifications

import (
	"sync"

	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
)

// LogrusHook forwards the log of Argo CD's notifications engine, which
// writes to logrus's standard logger (a `when:` condition that failed to
// evaluate, on every evaluation), to the controller's logger: each distinct
// error or warning once as Info, repeats and the rest at V(1). The
// controller command installs it once.
func LogrusHook(log logr.Logger) logrus.Hook { return &logrusHook{log: log, seen: map[string]bool{}} }

type logrusHook struct {
	log  logr.Logger
	mu   sync.Mutex
	seen map[string]bool // messages told at Info; at most maxSeen
}

const maxSeen = 1024

func (h *logrusHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *logrusHook) Fire(e *logrus.Entry) error {
	log := h.log.V(1)
	if e.Level <= logrus.WarnLevel && h.first(e.Message) {
		log = h.log
	}
	log.Info("notifications engine: "+e.Message, "level", e.Level.String())
	return nil
}

func (h *logrusHook) first(msg string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[msg] || len(h.seen) >= maxSeen {
		return false
	}
	h.seen[msg] = true
	return true
}
