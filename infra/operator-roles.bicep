// The operator plane's Entra app roles, in one place: the registration declares them
// (modules/operator-app.bicep), and shared.bicep outputs them for an existing registration
// (`az ad app update --id <client id> --app-roles @roles.json`). The values are the role names
// watchdog/auth.py checks (tests/infra/test_operator_plane.py); the ids are fixed so a re-run or a
// second registration keeps each role's identity (and its assignments).

@export()
@description('Entra app roles of the operators\' app registration (Microsoft Graph appRole objects).')
var operatorAppRoles = [
  {
    id: '9defc9ce-298f-415f-b9f7-28a5da89cdeb'
    value: 'Bridge.Reader'
    displayName: 'Bridge.Reader'
    description: 'Read the status page, traces, reconciliation reports and pending requests.'
    allowedMemberTypes: [
      'User'
    ]
    isEnabled: true
  }
  {
    id: '7657ec1b-5cfe-4606-87eb-ae122afc4471'
    value: 'Bridge.Operator'
    displayName: 'Bridge.Operator'
    description: 'Reader, plus failover, replay, reconcile now, resubmit, and requesting a resend or a forced failover.'
    allowedMemberTypes: [
      'User'
    ]
    isEnabled: true
  }
  {
    id: '8850011e-fdc8-4054-b020-1890c4f733f0'
    value: 'Bridge.Approver'
    displayName: 'Bridge.Approver'
    description: 'Reader, plus approving a resend or forced failover requested by someone else.'
    allowedMemberTypes: [
      'User'
    ]
    isEnabled: true
  }
]

@export()
@description('The application role the bridge apps\' identities hold, so each may ask its region\'s control app to turn its runner on or off (docs/security.md#control-plane-rights).')
var switchAppRole = {
  id: '3c0d7a4e-5b61-4f0e-9a52-6d1e8f2b7c90'
  value: 'Bridge.Switch'
  displayName: 'Bridge.Switch'
  description: 'A bridge app\'s identity: turn its own runner\'s consumption on or off through its region\'s control app.'
  allowedMemberTypes: [
    'Application'
  ]
  isEnabled: true
}
