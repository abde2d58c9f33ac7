# Shared views of an input for the default pack's rules. Each is a function of the input
# (so tests can call rules' functions with an input directly) and, for convenience, a rule.
package plinth.default.lib

import future.keywords.contains
import future.keywords.if
import future.keywords.in

changing_actions := {"create", "update", "replace", "live"}

# Resources a plan creates or changes (or, for live state, every observed resource).
# Arrays, not sets: a set of resource objects makes rego-cpp compare whole objects on
# every insert, which was a third of the pack's evaluation time.
changing_in(inp) := [r | some r in inp.resources; r.action in changing_actions]

# Resources that run processes (and so have containers and limits).
process_types := {"service", "job"}

processes_in(inp) := [r | some r in changing_in(inp); r.type in process_types]

# [resource name, container name, image] of every container of a changing process.
images_in(inp) := {image |
	some r in processes_in(inp)
	c := r.spec.containers[name]
	image := [r.name, name, c.image]
}

prod(inp) if inp.environment.tier == "prod"

changing := changing_in(input)

processes := processes_in(input)
