# Images come from allowed registries only (pack data: defaults.allowed_registries).
package plinth.default.registries

import future.keywords.contains
import future.keywords.if
import future.keywords.in

import data.plinth.default.lib

# "nginx" is docker.io/library/nginx and "team/app" is docker.io/team/app, as Docker reads them.
normalized(image) := image if {
	some prefix in data.defaults.unpinnable_images
	startswith(image, prefix)
} else := image if {
	parts := split(image, "/")
	count(parts) > 1
	regex.match(`[.:]|^localhost$`, parts[0])
} else := concat("", ["docker.io/library/", image]) if {
	not contains(image, "/")
} else := concat("", ["docker.io/", image])

allowed(image) if {
	some prefix in data.defaults.allowed_registries
	startswith(normalized(image), prefix)
}

deny contains v if some v in violations(input)

violations(inp) := {v |
	some [name, container, image] in lib.images_in(inp)
	not allowed(image)
	v := {
		"msg": sprintf("container %s of %s uses image %s from a registry that is not allowed", [container, name, image]),
		"resource": name,
		"severity": "high",
		"fix": sprintf("push the image to an allowed registry %v and use that reference", [data.defaults.allowed_registries]),
	}
}
