/** The long help text of `import-odk` (after the options), kept out of the command file. */
export const IMPORT_ODK_HELP = `
Each run asks Central for submissions created or changed since the last finished run (minus
--overlap), applies them oldest first (an edit updates the same beneficiary), and moves the
watermark only once every one of them is applied, unchanged or rejected for good. A run that
is killed resumes where it stopped. The password is never taken as a flag.

Examples:
  $ sparctl import-odk --odk-url https://central.example.org --project 3 --form spar_enrolment \\
      --odk-email importer@example.org --mapping enrolment.odk.json --dfsp dfsp.json
    (the password from SPARCTL_ODK_PASSWORD, --odk-password-file, or typed when asked)
  $ sparctl import-odk --mapping enrolment.odk.json --watch --interval 300
  $ sparctl import-odk --mapping enrolment.odk.json --instance-id uuid:5f0c6a4e-9b1d-4c3e-8a27-1d2e3f4a5b6c`;
