# Reviewed breaking changes of the public API schema, read by `coursegraph schema check`.
#
# One schema coordinate per line (`Type`, `Type.field`, `Type.field(arg:)`), with a
# comment saying why clients are safe. A breaking change whose description names a listed
# coordinate passes the check. Remove entries once the change has reached the base branch.
