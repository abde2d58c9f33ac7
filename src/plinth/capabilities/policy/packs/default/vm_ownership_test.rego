# Tests of the VM ownership rule (plinth policy test --pack default).
package plinth.default.vm_ownership_test

import future.keywords.if
import future.keywords.in

import data.plinth.default.vm_ownership

env(tier) := {"name": tier, "tier": tier, "protected": tier == "prod"}

vm(annotations) := {"name": "shop-legacy", "type": "vm", "action": "create", "spec": {"vcpus": 1}, "annotations": annotations}

test_a_dev_vm_without_owner_and_ttl_is_denied if {
	some v in vm_ownership.violations({"environment": env("dev"), "resources": [vm({})]})
	contains(v.msg, "plinth.dev/owner or plinth.dev/ttl")
	v.resource == "shop-legacy"
}

test_a_missing_ttl_is_named if {
	some v in vm_ownership.violations({"environment": env("dev"), "resources": [vm({"plinth.dev/owner": "ada"})]})
	contains(v.msg, "no plinth.dev/ttl annotation")
}

test_an_owned_vm_with_a_ttl_passes if {
	notes := {"plinth.dev/owner": "ada", "plinth.dev/ttl": "7d"}
	count(vm_ownership.violations({"environment": env("dev"), "resources": [vm(notes)]})) == 0
}

test_other_tiers_do_not_ask if {
	count(vm_ownership.violations({"environment": env("prod"), "resources": [vm({})]})) == 0
}
