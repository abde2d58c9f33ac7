# Data residency: resources of classified projects only in the regions their class allows
# (the project's metadata.labels "plinth.dev/classification"; regions are pack data).
package plinth.default.data_residency

import future.keywords.contains
import future.keywords.if
import future.keywords.in

import data.plinth.default.lib

deny contains v if some v in violations(input)

violations(inp) := {v |
	classification := object.get(inp.project, "classification", "")
	regions := data.defaults.residency[classification]
	region := object.get(inp.environment, "region", "")
	not region in regions
	some r in lib.changing_in(inp)
	v := {
		"msg": sprintf("project %s is %s and environment %s is in region %s, outside the allowed regions", [inp.project.name, classification, inp.environment.name, shown(region)]),
		"resource": r.name,
		"severity": "critical",
		"fix": sprintf("deploy %s to an environment in one of the regions %v", [r.name, regions]),
	}
}

shown(region) := region if region != ""

shown(region) := "(none set)" if region == ""
