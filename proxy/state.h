/*
 * Runtime state: the changes made through the admin socket (split weights,
 * server weights and admin states, servers added and deleted), carried
 * into each new config generation at a reload and kept in state_file
 * across restarts.  Each record names the config value it was based on,
 * so that a value edited in the config file since then wins.
 */
#ifndef STATE_H
#define STATE_H

struct conf;
struct pool;
struct server;

/*
 * Restores state_file into conf, a generation not yet published: a missing
 * file is logged at info, an unreadable or corrupt one at warn (naming the
 * line) and ignored.  Never fatal.
 */
void	 state_restore(struct conf *);
/* Carries the runtime state of old into conf, not yet published. */
void	 state_carry(const struct conf *old, struct conf *conf);
/*
 * Writes the runtime state of conf to its state_file atomically (temp
 * file, fsync, rename, fsync of the directory).  -1, logged, on failure:
 * the old file stays.  0 without a state_file.
 */
int	 state_save(const struct conf *);
/* Notes that a server of the config file was deleted at run time. */
void	 state_server_deleted(const struct pool *, const struct server *);
/* Forgets every deletion (at exit). */
void	 state_clear(void);

#endif
