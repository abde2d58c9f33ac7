# Resource limits are required (written in OPA's pre-1.0 syntax on purpose: it runs unchanged).
package plinth.default.resource_limits

import data.plinth.default.lib

missing(r) = kinds {
	limits := object.get(r.spec, "resources", {})
	kinds := [k | k := ["cpu", "memory"][_]; not limits[k]]
}

violations(inp) = found {
	found := {v |
		inp.environment.tier == data.defaults.limits_tiers[_]
		r := lib.processes_in(inp)[_]
		gaps := missing(r)
		count(gaps) > 0
		v := {
			"msg": sprintf("%s %s has no %v limit in %s", [r.type, r.name, gaps, inp.environment.name]),
			"resource": r.name,
			"fix": sprintf("set containers.<name>.resources.limits %v in workload %s, e.g. cpu: 500m, memory: 256Mi", [gaps, r.name]),
		}
	}
}

deny[v] {
	v := violations(input)[_]
}
