/* schema: the ordered list of state.db migrations, collected from the modules that own the
 * tables (spend, sessions, telegram, hooks, reminders). It lives here, above all of them, so that
 * the store in core/ names none of them: main hands the list to store_set_schema() before anything
 * opens the database. Append only: a migration's position is its user_version number. */
#ifndef HERMETIC_SCHEMA_H
#define HERMETIC_SCHEMA_H

/* Registers the migrations with the store (store_set_schema). Call once, before store_open. */
void schema_register(void);

#endif
