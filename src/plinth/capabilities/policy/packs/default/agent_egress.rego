# Agent workloads must declare egress: their processes carry the agent's allow-list.
package plinth.default.agent_egress

import future.keywords.contains
import future.keywords.if
import future.keywords.in

import data.plinth.default.lib

deny contains v if some v in violations(input)

violations(inp) := {v |
	some r in lib.processes_in(inp)
	object.get(r, "agent", "") != ""
	not is_object(object.get(r.spec, "egress", null))
	v := {
		"msg": sprintf("%s runs agent %s but declares no egress allow-list", [r.name, r.agent]),
		"resource": r.name,
		"severity": "high",
		"fix": sprintf("declare spec.egress in Agent %s (an empty list denies all egress) and plan again", [r.agent]),
	}
}
