// Who a panel is: a user of the default org (`org` undefined), or a user of a named org.
// The pair is the identity everywhere: "alice" and acme's "alice" are two people.

/** A map key for the pair that no two pairs share (ids may hold any character). */
export const whoKey = (who) => JSON.stringify([who.org ?? null, who.user]);

/** How the page names the pair: "alice", or "alice (acme)". */
export const whoLabel = (who) => (who.org === undefined ? who.user : `${who.user} (${who.org})`);

/** The agent's options for the pair: `{ orgId }`, or nothing for the default org. */
export const orgOption = (who) => (who.org === undefined ? {} : { orgId: who.org });
