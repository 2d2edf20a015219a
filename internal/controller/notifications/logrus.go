package notifications

import (
	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
)

// LogrusHook forwards the log of Argo CD's notifications engine, which
// writes to logrus's standard logger (a `when:` condition that failed to
// evaluate), to the controller's logger: errors and warnings as Info,
// the rest at V(1). The controller command installs it once.
func LogrusHook(log logr.Logger) logrus.Hook { return logrusHook{log} }

type logrusHook struct{ log logr.Logger }

func (h logrusHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h logrusHook) Fire(e *logrus.Entry) error {
	log := h.log
	if e.Level > logrus.WarnLevel {
		log = log.V(1)
	}
	log.Info("notifications engine: "+e.Message, "level", e.Level.String())
	return nil
}
