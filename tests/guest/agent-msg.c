#include "agent-msg.h"

#include <string.h>

struct cursor {
	const char *p, *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
		c->p++;
}

static int eat(struct cursor *c, char ch)
{
	skip_ws(c);
	if (c->p >= c->end || *c->p != ch)
		return -1;
	c->p++;
	return 0;
}

/* A string into out[0..size) (NUL-terminated); -1 when malformed or
 * longer than size - 1. out may be NULL: skipped. */
static int string(struct cursor *c, char *out, size_t size)
{
	size_t n = 0;

	if (eat(c, '"') < 0)
		return -1;
	while (c->p < c->end && *c->p != '"') {
		char ch = *c->p++;
		if ((unsigned char)ch < 0x20)
			return -1;
		if (ch == '\\') {
			if (c->p >= c->end)
				return -1;
			ch = *c->p++;
			if (ch != '"' && ch != '\\' && ch != '/')
				return -1;
		}
		if (out) {
			if (n + 1 >= size)
				return -1;
			out[n] = ch;
		}
		n++;
	}
	if (c->p >= c->end)
		return -1;
	c->p++;
	if (out)
		out[n] = '\0';
	return 0;
}

/* A number: digits, optionally '.' and digits. */
static int number(struct cursor *c, long long *sec, long *nsec)
{
	long long s = 0;
	long ns = 0;
	int digits = 0, frac = 0;

	skip_ws(c);
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (s > (0x7fffffffffffffffLL - 9) / 10)
			return -1;
		s = s * 10 + (*c->p++ - '0');
		digits++;
	}
	if (!digits)
		return -1;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			if (frac < 9)
				ns = ns * 10 + (*c->p - '0');
			frac++;
			c->p++;
		}
		if (!frac)
			return -1;
		for (int i = frac; i < 9; i++)
			ns *= 10;
	}
	*sec = s;
	*nsec = ns;
	return 0;
}

int agent_msg_parse(const char *line, size_t len, struct agent_msg *m)
{
	struct cursor c = { line, line + len };
	unsigned seen = 0;

	memset(m, 0, sizeof(*m));
	if (eat(&c, '{') < 0)
		return -1;
	skip_ws(&c);
	if (c.p < c.end && *c.p == '}') {
		c.p++;
		goto end;
	}
	for (;;) {
		static const char *const keys[] = { "event", "vmgenid", "mac", "hostname", "machine_id", "time" };
		char key[32];
		int k = -1;

		if (string(&c, key, sizeof(key)) < 0)
			return -1;
		for (int i = 0; i < 6; i++)
			if (strcmp(key, keys[i]) == 0)
				k = i;
		if (k >= 0 && (seen & 1u << k))
			return -1;
		if (k >= 0)
			seen |= 1u << k;
		if (eat(&c, ':') < 0)
			return -1;
		skip_ws(&c);
		if (c.p < c.end && *c.p == '"') {
			char *dst[] = { m->event, m->vmgenid, m->mac, m->hostname, m->machine_id, NULL };
			size_t sz[] = { sizeof(m->event), sizeof(m->vmgenid), sizeof(m->mac), sizeof(m->hostname),
					sizeof(m->machine_id), 0 };
			if (k == 5)
				return -1; /* time is a number */
			if (string(&c, k >= 0 ? dst[k] : NULL, k >= 0 ? sz[k] : 0) < 0)
				return -1;
		} else {
			long long s;
			long ns;
			if (number(&c, &s, &ns) < 0 || (k >= 0 && k != 5))
				return -1;
			if (k == 5) {
				m->has_time = 1;
				m->time_sec = s;
				m->time_nsec = ns;
			}
		}
		skip_ws(&c);
		if (c.p < c.end && *c.p == ',') {
			c.p++;
			continue;
		}
		if (eat(&c, '}') < 0)
			return -1;
		break;
	}
end:
	skip_ws(&c);
	return c.p == c.end ? 0 : -1;
}
