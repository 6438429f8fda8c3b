/* spec.json "user" to uid, gid and groups, from the passwd and group files.
 *
 * Read directly (fgetpwent/fgetgrent), not through getpwnam()/initgroups():
 * those go through NSS, which a static berth-shim cannot load. The price is
 * that users known only to LDAP or sssd are unknown here; the agent can pass
 * a numeric "uid:gid" for them. */
#include "runner/shim-int.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a decimal id; -1 when <s> is not one. (uid_t)-1 is refused: it
 * means "unchanged" to setuid-family calls. */
static long long parse_id(const char *s)
{
	long long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v >= 4294967295LL)
			return -1;
	}
	return v;
}

/* Finds the passwd entry named <name> (or with uid <uid> when <name> is
 * NULL) and copies what is needed; returns 1 when found, 0 when not, -1
 * when the file cannot be read. */
static int find_user(const char *path, const char *name, uid_t uid, char *uname, size_t cap,
		     uid_t *out_uid, gid_t *out_gid)
{
	FILE *f = fopen(path, "re");
	struct passwd *pw;
	int found = 0;

	if (!f)
		return -1;
	while ((pw = fgetpwent(f))) {
		if (name ? strcmp(pw->pw_name, name) == 0 : pw->pw_uid == uid) {
			snprintf(uname, cap, "%s", pw->pw_name);
			*out_uid = pw->pw_uid;
			*out_gid = pw->pw_gid;
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static void add_group(struct shim__user *u, gid_t g)
{
	for (size_t i = 0; i < u->ngroups; i++)
		if (u->groups[i] == g)
			return;
	if (u->ngroups < SHIM_MAX_GROUPS)
		u->groups[u->ngroups++] = g;
}

int shim__user_resolve(const char *spec, const char *passwd, const char *group,
		       struct shim__user *out, char **err)
{
	char user[256], uname[256] = "";
	const char *gpart = NULL;
	const char *colon = strchr(spec, ':');
	bool have_gid = false;
	gid_t gid = 0;
	uid_t uid;
	int r;

	memset(out, 0, sizeof(*out));
	snprintf(user, sizeof(user), "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
	if (colon)
		gpart = colon + 1;
	if (!user[0] || (gpart && !gpart[0])) {
		*err = shim__asprintf("user \"%s\": expected USER or USER:GROUP", spec);
		return -1;
	}

	long long id = parse_id(user);
	if (id >= 0)
		r = find_user(passwd, NULL, (uid_t)id, uname, sizeof(uname), &uid, &gid);
	else
		r = find_user(passwd, user, 0, uname, sizeof(uname), &uid, &gid);
	if (r < 0) {
		*err = shim__asprintf("user \"%s\": %s: %s", spec, passwd, strerror(errno));
		return -1;
	}
	if (r == 0 && id < 0) {
		*err = shim__asprintf("user \"%s\": no such user in %s", spec, passwd);
		return -1;
	}
	if (r == 0) {
		/* A uid the passwd file does not know: its own number as the
		 * group rather than root's group 0. */
		uid = (uid_t)id;
		gid = (gid_t)id;
	}

	FILE *f = NULL;
	if (gpart) {
		long long g = parse_id(gpart);
		if (g >= 0) {
			gid = (gid_t)g;
			have_gid = true;
		}
	}
	if ((gpart && !have_gid) || uname[0]) {
		f = fopen(group, "re");
		if (!f && gpart && !have_gid) {
			*err = shim__asprintf("user \"%s\": %s: %s", spec, group, strerror(errno));
			return -1;
		}
	}
	if (f && gpart && !have_gid) {
		struct group *gr;
		while ((gr = fgetgrent(f)))
			if (strcmp(gr->gr_name, gpart) == 0) {
				gid = gr->gr_gid;
				have_gid = true;
				break;
			}
		if (!have_gid) {
			fclose(f);
			*err = shim__asprintf("user \"%s\": no such group in %s", spec, group);
			return -1;
		}
		rewind(f);
	}
	out->uid = uid;
	out->gid = gid;
	add_group(out, gid);
	/* Supplementary groups: the ones listing the user by name, as
	 * initgroups() would find them in /etc/group. */
	if (f && uname[0]) {
		struct group *gr;
		while ((gr = fgetgrent(f)))
			for (char **m = gr->gr_mem; m && *m; m++)
				if (strcmp(*m, uname) == 0) {
					add_group(out, gr->gr_gid);
					break;
				}
	}
	if (f)
		fclose(f);
	return 0;
}
