this file is skipped: it lives in a hidden directory {{{
