// Package application is the controller that makes a cluster match an
// argoproj.io/v1alpha1 Application: resolve the source revision, render it,
// compare with the live objects, sync when asked or when automated, assess
// health, and report it all in the Application's status in Argo CD's shape.
//
// Reconciliation is level-based and cheap when nothing changed. A reconcile
// whose inputs (revision, render options) are the ones last compared, and
// whose managed objects have not changed since (as seen by the watch cache),
// makes no API request and no write: see tracker. Drift on a managed object
// arrives as a watch event on that object's kind and wakes exactly the
// Application that owns it, so self-heal does not wait for a poll.
package application
