#ifndef NVC_TEST_EXEC_TESTS_H
#define NVC_TEST_EXEC_TESTS_H

/* Test functions defined outside test_exec.c (each returns 0, -1 or, through test_absent, TEST_SKIP). */

/* t_codec.c */
int test_codec_roundtrip(void);
int test_codec_checks(void);
int test_codec_truncation_and_mutation(void);

/* t_teardown.c */
int test_teardown_restores(void);
int test_teardown_keeps_nonempty(void);
int test_teardown_codec(void);

/* t_hostile.c */
int test_hostile_corpus(void);
int test_race_component_swap(void);
int test_race_placeholder_swap(void);

#endif
