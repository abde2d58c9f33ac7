# Secure defaults stay on: a resource that turns one off needs a PolicyException.
# The planner injects the defaults (orchestration/secure_defaults.py) and lists every
# default a workload turned off in spec.security.optOuts.
package plinth.default.secure_defaults

import future.keywords.contains
import future.keywords.if
import future.keywords.in

import data.plinth.default.lib

deny contains {
	"msg": sprintf("%s turns off the secure default %s: keeping it off needs a PolicyException for rule default/secure_defaults", [r.name, name]),
	"resource": r.name,
	"rule": "secure_defaults",
	"severity": "high",
	"fix": sprintf("remove the annotation plinth.dev/security.%s, or file a PolicyException (rule default/secure_defaults, resource %s) with an owner, a justification and an expiry", [name, r.name]),
} if {
	some r in lib.changing
	some name in opt_outs(r)
}

opt_outs(r) := object.get(object.get(r.spec, "security", {}), "optOuts", [])
