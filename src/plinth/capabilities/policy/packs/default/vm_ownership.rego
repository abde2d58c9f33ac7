# Every VM in the tiers of data.defaults.vm_owner_tiers (dev) has an owner and a time to
# live: the workload that declares it carries the plinth.dev/owner and plinth.dev/ttl
# annotations (the janitor cleans up what the TTL says, see docs/janitor.md). Evaluated on
# plans: live state carries no workload annotations.
package plinth.default.vm_ownership

import future.keywords.contains
import future.keywords.if
import future.keywords.in

deny contains v if some v in violations(input)

plan_actions := {"create", "update", "replace"}

required := ["plinth.dev/owner", "plinth.dev/ttl"]

missing(r) := [key |
	some key in required
	object.get(object.get(r, "annotations", {}), key, "") == ""
]

# sprintf in rego-cpp (regopy 1.5.2) quotes a concat result it formats: build the text here.
gap_text(gaps) := gaps[0] if count(gaps) == 1

gap_text(gaps) := sprintf("%s or %s", [gaps[0], gaps[1]]) if count(gaps) == 2

violations(inp) := {v |
	inp.environment.tier in data.defaults.vm_owner_tiers
	some r in inp.resources
	r.type == "vm"
	r.action in plan_actions
	gaps := missing(r)
	count(gaps) > 0
	v := {
		"msg": sprintf("vm %s in %s has no %s annotation: every VM there needs an owner and a time to live", [r.name, inp.environment.name, gap_text(gaps)]),
		"resource": r.name,
		"severity": "medium",
		"fix": "add metadata.annotations to the workload that declares the vm: plinth.dev/owner: <person or team> and plinth.dev/ttl: <duration such as 7d, or an RFC 3339 time>",
	}
}
