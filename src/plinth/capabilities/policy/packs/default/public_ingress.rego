# No public ingress in prod without approval: every route is reachable from outside. A plan
# applied by an approver (pack data: defaults.ingress_approvers) carries that approval.
package plinth.default.public_ingress

import future.keywords.contains
import future.keywords.if
import future.keywords.in

import data.plinth.default.lib

needs_approval contains v if some v in violations(input)

approver(inp) if {
	some role in object.get(object.get(inp, "actor", {}), "roles", [])
	role in data.defaults.ingress_approvers
}

violations(inp) := {v |
	lib.prod(inp)
	not approver(inp)
	some r in lib.changing_in(inp)
	r.type == "route"
	v := {
		"msg": sprintf("route %s exposes a service publicly (outside the platform) in prod", [r.name]),
		"resource": r.name,
		"severity": "high",
		"fix": "ask a release manager or platform engineer to approve the plan, or remove the route and keep the service internal",
	}
}
