package appset

// SpecError is an error in the ApplicationSet itself: a generator or template that is invalid,
// or a template that renders an invalid Application. Retrying cannot fix it; changing the
// ApplicationSet, or what its generators read, can. Errors Applications returns are a
// *SpecError, an *InputError, an *InvalidClusterSecretError (from Clusters) or the context's.
type SpecError struct {
	// Part is the part of the ApplicationSet at fault.
	Part Part
	// Err says what is wrong, naming the generator or parameter set.
	Err error
}

func (e *SpecError) Error() string { return e.Err.Error() }

func (e *SpecError) Unwrap() error { return e.Err }

// Part names a part of an ApplicationSet for a SpecError.
type Part string

const (
	// PartGenerators is spec.generators: a generator that does not decode, is unsupported, or
	// fails on what it read (a file that holds no object, conflicting parameters, ...).
	PartGenerators Part = "generators"
	// PartTemplate is spec.template and spec.templatePatch: a template that does not render,
	// or renders something that is no Application.
	PartTemplate Part = "template"
	// PartApplication is a rendered Application that is invalid: no name, another namespace,
	// or a name two parameter sets render.
	PartApplication Part = "application"
)

// InputError is a failure to read an input of the generators (a repository, through Repo). It
// may pass by itself: callers retry. Its message is Err's, so wrapping it changes no text.
type InputError struct {
	Err error
}

func (e *InputError) Error() string { return e.Err.Error() }

func (e *InputError) Unwrap() error { return e.Err }
