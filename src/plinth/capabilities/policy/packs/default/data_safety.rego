# Data safety: a plan that would destroy stored data waits for a human. It names the volume,
# the VM disk or the database concerned. Fires on: a postgres replace (the database is
# dropped and created again, empty), a VM disk removed from the spec or made smaller, and a
# volume, VM or database deleted: always when it was removed from a workload that stays, and
# when a workload or application is deleted, in the tiers of data.defaults.data_safety_tiers
# (and protected environments). VM data disks survive a replace by design, so a VM replace
# alone does not fire, nor does anything that was never realised (input "realised": false:
# a database whose creation failed holds no data). Take a snapshot first (plinth snapshot create), then have it approved.
package plinth.default.data_safety

import future.keywords.contains
import future.keywords.if
import future.keywords.in

needs_approval contains v if some v in violations(input)

data_types := {"volume", "postgres", "vm"}

deleting_kinds := {"Workload", "Application"}

changing_actions := {"update", "replace"}

violations(inp) := (replaced_databases(inp) | removed_disks(inp)) | (shrunk_disks(inp) | deleted(inp))

# Missing "realised" (older inputs, tests) counts as realised: the safe side.
holds_data(r) if object.get(r, "realised", true) == true

backup_fix(r) := sprintf("take a snapshot first (plinth snapshot create %s --env <env>), then have the plan approved", [r.name])

# The database name as the spec gives it (none: the default, the resource's own name).
shown_name(x) := x if is_string(x)

shown_name(x) := "(default)" if not is_string(x)

replaced_databases(inp) := {v |
	some r in inp.resources
	holds_data(r)
	r.type == "postgres"
	r.action == "replace"
	before := shown_name(object.get(object.get(r, "before", {}), "database", null))
	after := shown_name(object.get(object.get(r, "spec", {}), "database", null))
	v := {
		"msg": sprintf("replacing postgres %s drops its database (name %s becomes %s) and every row in it", [r.name, before, after]),
		"resource": r.name,
		"severity": "high",
		"fix": sprintf("keep the database name %s, or %s", [before, backup_fix(r)]),
	}
}

disks(spec) := {d.name: d |
	is_object(spec)
	some d in object.get(spec, "disks", [])
}

removed_disks(inp) := {v |
	some r in inp.resources
	holds_data(r)
	r.type == "vm"
	r.action in changing_actions
	old := disks(object.get(r, "before", {}))
	new := disks(object.get(r, "spec", {}))
	old[name]
	not new[name]
	v := {
		"msg": sprintf("disk %s of vm %s is removed from the spec: its data is destroyed", [name, r.name]),
		"resource": r.name,
		"severity": "high",
		"fix": sprintf("keep disk %s in the vm's disks, or %s", [name, backup_fix(r)]),
	}
}

shrunk_disks(inp) := {v |
	some r in inp.resources
	holds_data(r)
	r.type == "vm"
	r.action in changing_actions
	old := disks(object.get(r, "before", {}))
	new := disks(object.get(r, "spec", {}))
	d := new[name]
	was := old[name]
	units.parse_bytes(d.size) < units.parse_bytes(was.size)
	v := {
		"msg": sprintf("disk %s of vm %s shrinks from %s to %s: data beyond the new size is lost", [name, r.name, was.size, d.size]),
		"resource": r.name,
		"severity": "high",
		"fix": sprintf("keep disk %s at %s or more, or %s", [name, was.size, backup_fix(r)]),
	}
}

deleting_workloads(inp) if {
	some d in object.get(inp, "documents", [])
	d.kind in deleting_kinds
	d.action == "delete"
}

guarded_tier(inp) if inp.environment.tier in data.defaults.data_safety_tiers

guarded_tier(inp) if inp.environment.protected == true

delete_guarded(inp) if not deleting_workloads(inp)

delete_guarded(inp) if guarded_tier(inp)

deleted(inp) := {v |
	delete_guarded(inp)
	some r in inp.resources
	holds_data(r)
	r.action == "delete"
	r.type in data_types
	v := {
		"msg": sprintf("deleting %s %s destroys the data it holds", [r.type, r.name]),
		"resource": r.name,
		"severity": "high",
		"fix": backup_fix(r),
	}
}
