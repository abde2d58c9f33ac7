# Models must be signed: every version a plan deploys or promotes verifies now (registry facts
# in input.models: signature against a trusted key, artifact digest unchanged).
package plinth.default.signed_models

import future.keywords.contains
import future.keywords.if
import future.keywords.in

deny contains v if some v in violations(input)

violations(inp) := {v |
	fact := object.get(inp, "models", {})[ref]
	not fact.ok
	v := {
		"msg": sprintf("%s: %s", [ref, object.get(fact, "reason", "verification failed")]),
		"resource": ref,
		"severity": "critical",
		"fix": "register a signed version (plinth models register NAME VERSION --artifact PATH --sign-key KEY.pem), trust its key (plinth models trust add NAME KEY.pub), check it with plinth models verify NAME VERSION",
	}
}
